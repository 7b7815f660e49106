import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// findBy*/waitFor bounds: generous, the shared CI box can be slow (nothing here is timed).
configure({ asyncUtilTimeout: 10_000 });

afterEach(() => {
  cleanup();
});

import { Link } from "react-router";

export function NotFound() {
  return (
    <section className="narrow">
      <h1>Page not found</h1>
      <p>There is nothing at this address.</p>
      <Link to="/leads">Go to my leads</Link>
    </section>
  );
}

// ESLint (flat config): typescript-eslint with `any` and non-null `!` refused,
// and API types taken only from the generated schema (src/api/schema.d.ts,
// re-exported by src/api/types.ts): a hand-written interface or type alias
// named like an API shape is an error anywhere else.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

const API_NAME = "/(Output|Input|Request|Response|Envelope|Paginated|Lead|Agent|Batch|Activity|Me|Dashboard)$/";

export default tseslint.config(
  { ignores: ["dist", "node_modules", "src/api/schema.d.ts", "public/sw.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.{ts,tsx}"],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", ignoreRestSiblings: true }],
      "no-restricted-syntax": [
        "error",
        {
          selector: `TSInterfaceDeclaration[id.name=${API_NAME}]`,
          message: "API types come from the generated schema: import them from src/api/types.ts.",
        },
        {
          selector: `TSTypeAliasDeclaration[id.name=${API_NAME}]:not([typeAnnotation.type='TSIndexedAccessType'])`,
          message: "API types come from the generated schema: import them from src/api/types.ts.",
        },
      ],
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/api/schema", "**/api/schema.d"],
              message: "Import API types from src/api/types.ts (the one place that reads the schema).",
            },
          ],
        },
      ],
    },
  },
  {
    // The one module allowed to read the generated file.
    files: ["src/api/types.ts", "src/api/client.ts"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    files: ["public/**/*.js"],
    languageOptions: { globals: { ...globals.serviceworker } },
  },
);

// TypeScript looks for `.d.mts` types next to an `.mjs` module: the types are in localrank-client.d.ts.
export * from "./localrank-client.js";

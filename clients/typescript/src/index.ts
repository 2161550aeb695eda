export * from "./client.js";
export * from "./files.js";
export type { components, paths } from "./schema.js";

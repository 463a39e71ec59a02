/**
 * Segment format v1 — the public entry point. The grammar (header, BEGIN/COMMIT markers,
 * footer) lives in `grammar.ts`, the streaming scanner and the verifier in `scan.ts`;
 * commit-time rendering in `commit-time.ts`. See docs/architecture.md "Segment format v1".
 */
export * from './grammar';
export * from './scan';

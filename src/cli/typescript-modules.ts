// The CLI runs as bundled JavaScript, but users write processors (`--module ./process.ts`) and
// configs in TypeScript: commands that import user modules (a worker, `plan`'s load check) enable
// tsx's loader first. Once per process; the other commands never pay for it.
let enabled: Promise<void> | undefined;

export function enableTypeScriptModules(): Promise<void> {
  enabled ??= import('tsx/esm/api').then(({ register }) => {
    register();
  });
  return enabled;
}

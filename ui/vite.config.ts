import { defineConfig, type Plugin } from 'vite';
import { readdirSync, rmSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

// The REST API owns these paths; `npm run dev` proxies them to a running
// `weir local` (WEIR_URL, default http://127.0.0.1:8081).
const api = ['/config', '/overview', '/cluster', '/jobs', '/taskmanagers', '/wasm', '/events', '/metrics', '/openapi.json'];
const target = process.env.WEIR_URL ?? 'http://127.0.0.1:8081';

// ui/dist/.gitkeep is committed (Go's go:embed needs the folder), so the
// build empties dist/ itself, keeping .gitkeep, instead of Vite's emptyOutDir.
function keepGitkeep(): Plugin {
  const dist = join(import.meta.dirname, 'dist');
  return {
    name: 'weir-keep-gitkeep',
    apply: 'build',
    buildStart() {
      mkdirSync(dist, { recursive: true });
      for (const f of readdirSync(dist)) {
        if (f !== '.gitkeep') rmSync(join(dist, f), { recursive: true, force: true });
      }
    },
    closeBundle() {
      const keep = join(dist, '.gitkeep');
      if (!existsSync(keep)) writeFileSync(keep, '');
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [keepGitkeep()],
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(api.map((p) => [p, { target, changeOrigin: false }])),
  },
});

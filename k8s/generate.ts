import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderManifests } from './manifests.js';

/** `npm run k8s`: rewrites the generated manifests of the kustomize base and of k8s/monitoring. */
const dir = path.dirname(fileURLToPath(import.meta.url));
for (const [file, content] of Object.entries(renderManifests())) {
  await fs.mkdir(path.dirname(path.join(dir, file)), { recursive: true });
  await fs.writeFile(path.join(dir, file), content);
  process.stdout.write(`wrote k8s/${file}\n`);
}

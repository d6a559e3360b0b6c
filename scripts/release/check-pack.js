#!/usr/bin/env node
// `npm pack` / `npm publish` run this first (prepack / prepublishOnly): a tarball without the
// prebuilt binaries would make every user compile (and most fail), so packing without them fails.
//
//   node scripts/release/check-pack.js            prepack: a release build, or a dev build with LOTUS_ALLOW_DEV_PACK=1
//   node scripts/release/check-pack.js --publish  prepublishOnly: a release build only
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const rootArg = process.argv.indexOf('--root');  // tests point it at a scratch folder
const root = rootArg > 0 ? path.resolve(process.argv[rootArg + 1]) : path.resolve(__dirname, '..', '..');
const pkg = require(path.join(root, 'package.json'));
const publishing = process.argv.includes('--publish');
const problems = [];

const manifestPath = path.join(root, 'prebuilds', 'manifest.json');
let manifest = null;
if (!fs.existsSync(manifestPath)) {
  problems.push('prebuilds/manifest.json is missing: no prebuilt binaries were made');
} else {
  manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  if (manifest.version !== pkg.version) problems.push(`the prebuilds are for version ${manifest.version}, package.json says ${pkg.version}`);
  const required = ['linux-x64', 'linux-arm64'];
  for (const target of required) {
    const entry = manifest.targets?.[target];
    if (!entry) {
      if (manifest.kind === 'dev' && target === 'linux-arm64') continue;  // a dev build may lack the cross compiler
      problems.push(`no ${target} prebuild`);
      continue;
    }
    for (const file of entry.files) if (!fs.existsSync(path.join(root, file))) problems.push(`${file} is listed but missing`);
  }
  if (!fs.existsSync(path.join(root, 'vendor', 'onnxruntime-node', 'package.json'))) problems.push('vendor/onnxruntime-node is missing');
  if (manifest.kind === 'dev') {
    if (publishing) problems.push('these are dev prebuilds (npm run release -- --dev): publish only a release build (npm run release)');
    else if (process.env.LOTUS_ALLOW_DEV_PACK !== '1') problems.push('these are dev prebuilds: set LOTUS_ALLOW_DEV_PACK=1 to pack them for a test');
  }
}

if (problems.length) {
  console.error('lotus-trt: refusing to pack:');
  for (const p of problems) console.error(`  - ${p}`);
  console.error('Make the prebuilt binaries first: npm run release (docs/install.md, "Making a release").');
  process.exit(1);
}
const targets = Object.entries(manifest.targets).map(([name, t]) => `${name} (${t.gpu ? `GPU, sm_${t.sass.join('/')}${t.ptx.length ? ` + PTX ${t.ptx.join('/')}` : ''}${t.tensorrtPlugins.length ? `, ${t.tensorrtPlugins.join(' ')}` : ''}` : 'CPU-only'})`);
console.error(`lotus-trt: packing ${manifest.kind} prebuilds: ${targets.join('; ')}`);
if (manifest.kind === 'dev') console.error('lotus-trt: WARNING: dev prebuilds (not every GPU architecture); for tests only, never publish this tarball');

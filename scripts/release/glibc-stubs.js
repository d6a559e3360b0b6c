#!/usr/bin/env node
// Makes stub glibc libraries whose symbol versions stop at a baseline (default 2.28), for linking
// prebuilds that load on older distributions than the one that builds them.
//
//   node scripts/release/glibc-stubs.js --libdir /lib/x86_64-linux-gnu --cc gcc --out <dir> [--baseline 2.28]
//
// For every symbol of the toolchain's libc/libm/libdl/libpthread/librt/ld.so, the stub exports only
// the newest version at or below the baseline (pthread_create@GLIBC_2.2.5, not @GLIBC_2.34), so the
// linker records that one. Symbols that glibc added after the baseline are left out: the link then
// leaves them unversioned, and scripts/release/check-glibc.sh reports them (native/portability/
// glibc_compat.c supplies the ones the build needs). Nothing is copied from glibc: the stubs hold
// empty functions and are never loaded at run time; the real libraries keep the same sonames.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    libdir: { type: 'string' },
    cc: { type: 'string', default: 'gcc' },
    readelf: { type: 'string', default: 'readelf' },
    out: { type: 'string' },
    baseline: { type: 'string', default: '2.28' },
  },
});
if (!values.libdir || !values.out) {
  console.error('usage: glibc-stubs.js --libdir <toolchain lib dir> --out <dir> [--cc gcc] [--readelf readelf] [--baseline 2.28]');
  process.exit(2);
}

const parseVersion = (v) => v.split('.').map(Number);
function compareVersions(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
const baseline = parseVersion(values.baseline);

/** name -> { version, type, size } for the newest GLIBC_x version <= baseline of each defined symbol. */
function pickSymbols(library) {
  const text = execFileSync(values.readelf, ['--dyn-syms', '-W', library], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const chosen = new Map();
  for (const line of text.split('\n')) {
    const m = /^\s*\d+:\s+[0-9a-f]+\s+(\d+)\s+(\w+)\s+(\w+)\s+\w+\s+(\S+)\s+([^@\s]+)@@?(GLIBC_[\d.]+)/.exec(line);
    if (!m) continue;
    const [, size, type, bind, ndx, name, version] = m;
    if (ndx === 'UND' || ndx === 'ABS' || bind === 'LOCAL') continue;
    const v = parseVersion(version.slice('GLIBC_'.length));
    if (compareVersions(v, baseline) > 0) continue;
    const previous = chosen.get(name);
    if (previous && compareVersions(previous.v, v) >= 0) continue;
    chosen.set(name, { version, v, type, bind, size: Number(size) });
  }
  return chosen;
}

function writeStub(library, soname, outDir) {
  const symbols = pickSymbols(library);
  const byVersion = new Map();
  const asm = ['\t.text'];
  for (const [name, s] of symbols) {
    if (!byVersion.has(s.version)) byVersion.set(s.version, []);
    byVersion.get(s.version).push(name);
    const bind = s.bind === 'WEAK' ? '.weak' : '.globl';
    if (s.type === 'OBJECT' || s.type === 'TLS') {
      const section = s.type === 'TLS' ? '.section .tbss,"awT",@nobits' : '.data';
      asm.push(`\t${section}`, `\t${bind} ${name}`, `\t.type ${name}, ${s.type === 'TLS' ? '@tls_object' : '@object'}`,
        `\t.size ${name}, ${s.size}`, `${name}:`, `\t.zero ${Math.max(s.size, 1)}`, '\t.text');
    } else {
      asm.push(`\t${bind} ${name}`, `\t.type ${name}, @function`, `${name}:`, '\tnop');
    }
  }
  const versions = [...byVersion.keys()].sort((a, b) => compareVersions(parseVersion(a.slice(6)), parseVersion(b.slice(6))));
  const script = versions.map((v) => `${v} { global: ${byVersion.get(v).join('; ')}; };`).join('\n');
  const base = path.join(outDir, soname);
  fs.writeFileSync(`${base}.S`, `${asm.join('\n')}\n`);
  fs.writeFileSync(`${base}.map`, `${script}\n${versions.length ? '' : 'GLIBC_STUB { local: *; };\n'}`);
  execFileSync(values.cc, ['-shared', '-nostdlib', '-o', base, `${base}.S`, `-Wl,--version-script=${base}.map`,
    `-Wl,-soname,${soname}`]);
  return symbols.size;
}

const outDir = path.resolve(values.out);
fs.mkdirSync(outDir, { recursive: true });
const libs = fs.readdirSync(values.libdir);
const wanted = [/^libc\.so\.6$/, /^libm\.so\.6$/, /^libdl\.so\.2$/, /^libpthread\.so\.0$/, /^librt\.so\.1$/, /^ld-linux[\w.-]*\.so\.\d$/];
let loader = null;
for (const pattern of wanted) {
  const soname = libs.find((f) => pattern.test(f));
  if (!soname) continue;
  const count = writeStub(path.join(values.libdir, soname), soname, outDir);
  if (soname.startsWith('ld-linux')) loader = soname;
  // The names the linker looks up for -lc, -lm, ... (libc.so itself is a script, as glibc's is).
  const devName = soname.replace(/\.so\.\d+$/, '.so');
  if (devName !== soname && !soname.startsWith('libc.')) {
    fs.rmSync(path.join(outDir, devName), { force: true });
    fs.symlinkSync(soname, path.join(outDir, devName));
  }
  console.log(`${soname}: ${count} symbols at GLIBC <= ${values.baseline}`);
}
const nonshared = ['libc_nonshared.a'].map((f) => [values.libdir, path.join(values.libdir, '..', '..', 'usr', 'lib', path.basename(values.libdir))]
  .map((d) => path.join(d, f)).find((p) => fs.existsSync(p)));
if (!nonshared[0]) throw new Error(`libc_nonshared.a not found next to ${values.libdir}`);
fs.writeFileSync(path.join(outDir, 'libc.so'),
  `GROUP ( ${path.join(outDir, 'libc.so.6')} ${nonshared[0]}${loader ? ` AS_NEEDED ( ${path.join(outDir, loader)} )` : ''} )\n`);

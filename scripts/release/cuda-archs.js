#!/usr/bin/env node
// Lists the GPU code in a binary's fat binary (.nv_fatbin), as `cuobjdump --list-elf --list-ptx`
// would (the CUDA toolkit here has no cuobjdump): SASS (cubin) architectures and PTX versions.
//
//   node scripts/release/cuda-archs.js <lotus.node> [--expect 75,80,...] [--expect-ptx 121]
//
// Exits 1 when an expected architecture is missing. The fatbin layout (little-endian): a container
// header {u32 magic 0xBA55ED50, u16 version, u16 headerSize, u64 payloadSize} followed by entries
// {u16 kind (1 PTX, 2 ELF), u16, u32 headerSize, u64 payloadSize, ..., u32 arch at offset 28}.
'use strict';
const fs = require('node:fs');

const FATBIN_MAGIC = 0xba55ed50;

/** The bytes of an ELF64 little-endian section, or null when the file has none of that name. */
function elfSection(buffer, wanted) {
  if (buffer.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buffer[4] !== 2 || buffer[5] !== 1) throw new Error('only 64-bit little-endian ELF files are supported');
  const shoff = Number(buffer.readBigUInt64LE(0x28));
  const shentsize = buffer.readUInt16LE(0x3a);
  const shnum = buffer.readUInt16LE(0x3c);
  const shstrndx = buffer.readUInt16LE(0x3e);
  const header = (i) => shoff + i * shentsize;
  const strtab = Number(buffer.readBigUInt64LE(header(shstrndx) + 0x18));
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const nameOffset = strtab + buffer.readUInt32LE(h);
    const name = buffer.toString('latin1', nameOffset, buffer.indexOf(0, nameOffset));
    if (name !== wanted) continue;
    const offset = Number(buffer.readBigUInt64LE(h + 0x18));
    const size = Number(buffer.readBigUInt64LE(h + 0x20));
    return buffer.subarray(offset, offset + size);
  }
  return null;
}

/** { sass: [75, 80, ...], ptx: [121] } from every fatbin container of the file (sorted, unique). */
function listCudaArchitectures(file) {
  const section = elfSection(fs.readFileSync(file), '.nv_fatbin');
  const sass = new Set();
  const ptx = new Set();
  if (section) {
    let p = 0;
    while (p + 16 <= section.length) {
      if (section.readUInt32LE(p) !== FATBIN_MAGIC) {
        p += 8;  // containers are 8-byte aligned; skip padding
        continue;
      }
      const headerSize = section.readUInt16LE(p + 6);
      const payloadSize = Number(section.readBigUInt64LE(p + 8));
      const end = p + headerSize + payloadSize;
      let e = p + headerSize;
      while (e + 32 <= end) {
        const kind = section.readUInt16LE(e);
        const entryHeaderSize = section.readUInt32LE(e + 4);
        const entryPayloadSize = Number(section.readBigUInt64LE(e + 8));
        const arch = section.readUInt32LE(e + 28);
        if (kind === 1) ptx.add(arch);
        else if (kind === 2) sass.add(arch);
        else throw new Error(`unknown fatbin entry kind ${kind} at offset ${e}`);
        e += entryHeaderSize + entryPayloadSize;
      }
      p = end;
    }
  }
  const sorted = (set) => [...set].sort((a, b) => a - b);
  return { sass: sorted(sass), ptx: sorted(ptx) };
}

module.exports = { listCudaArchitectures };

if (require.main === module) {
  const { parseArgs } = require('node:util');
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { expect: { type: 'string' }, 'expect-ptx': { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) {
    console.error('usage: cuda-archs.js <binary> [--expect 75,80,...] [--expect-ptx 121] [--json]');
    process.exit(2);
  }
  const found = listCudaArchitectures(positionals[0]);
  if (values.json) console.log(JSON.stringify(found));
  else console.log(`${positionals[0]}: SASS sm_${found.sass.join(' sm_') || '(none)'}; PTX compute_${found.ptx.join(' compute_') || '(none)'}`);
  const list = (text) => (text ? text.split(',').map(Number) : []);
  const missing = [
    ...list(values.expect).filter((a) => !found.sass.includes(a)).map((a) => `sm_${a}`),
    ...list(values['expect-ptx']).filter((a) => !found.ptx.includes(a)).map((a) => `compute_${a}`),
  ];
  if (missing.length) {
    console.error(`missing: ${missing.join(' ')}`);
    process.exit(1);
  }
}

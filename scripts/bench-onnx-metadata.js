#!/usr/bin/env node
// Reads an ONNX model's metadata, I/O signatures and external data locations two ways and times
// them in the same run: lib/model/metadata.ts + lib/model/external-data.ts (positional walk that
// seeks over payloads) against protobufjs with the ONNX schema (the fields we read; initializer
// payloads are unknown fields, which its decoder skips without copying). protobufjs decodes a
// buffer, so its time includes reading the whole .onnx file.
//
//   npm run build:ts
//   npm install --prefix /tmp/pbjs protobufjs@8          # not a dependency of lotus-trt
//   PROTOBUFJS=/tmp/pbjs/node_modules/protobufjs node scripts/bench-onnx-metadata.js MODEL.onnx...
//
// A multi-GB single-file model (the fp16 export's layout) made from any ONNX: its graph plus one
// unused initializer of N bytes (real bytes on disk, not a sparse hole):
//   node scripts/bench-onnx-metadata.js --make-single OUT.onnx --from MODEL.onnx --bytes 1900000000
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

// ---- protobuf varints, enough to append a field to a model's graph ----
function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
function readVarint(buf, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
}

/** Writes `from`'s model with one more initializer of `bytes` bytes in its graph. */
function makeSingle(out, from, bytes) {
  const model = fs.readFileSync(from);
  const parts = [];
  let graph;
  for (let pos = 0; pos < model.length;) {
    const start = pos;
    const [tag, afterTag] = readVarint(model, pos);
    const wire = tag & 7;
    pos = afterTag;
    if (wire === 0) pos = readVarint(model, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else {
      const [length, afterLength] = readVarint(model, pos);
      if (tag >>> 3 === 7) graph = model.subarray(afterLength, afterLength + length);
      pos = afterLength + length;
    }
    if (tag >>> 3 !== 7) parts.push(model.subarray(start, pos));
  }
  if (!graph) throw new Error(`${from} has no graph`);
  const name = Buffer.from('bench_padding_weight');
  const tensorHead = Buffer.concat([
    varint((1 << 3) | 0), varint(bytes), // dims
    varint((2 << 3) | 0), varint(2), // data_type UINT8
    varint((8 << 3) | 2), varint(name.length), name,
    varint((9 << 3) | 2), varint(bytes), // raw_data follows
  ]);
  const initializerHead = Buffer.concat([varint((5 << 3) | 2), varint(tensorHead.length + bytes), tensorHead]);
  const graphLength = graph.length + initializerHead.length + bytes;
  const fd = fs.openSync(out, 'w');
  try {
    for (const part of parts) fs.writeSync(fd, part);
    fs.writeSync(fd, Buffer.concat([varint((7 << 3) | 2), varint(graphLength), graph, initializerHead]));
    const chunk = Buffer.alloc(64 << 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    for (let written = 0; written < bytes; written += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written));
  } finally {
    fs.closeSync(fd);
  }
  console.log(`wrote ${out}: ${(fs.statSync(out).size / 2 ** 30).toFixed(2)} GiB`);
}

// ---- the ONNX schema for protobufjs: the fields lotus-trt reads (field numbers of onnx.proto3) ----
const repeated = (type, id) => ({ rule: 'repeated', type, id });
const SCHEMA = {
  nested: {
    ModelProto: { fields: { irVersion: { type: 'int64', id: 1 }, graph: { type: 'GraphProto', id: 7 }, metadataProps: repeated('StringStringEntryProto', 14), functions: repeated('FunctionProto', 25) } },
    StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    GraphProto: { fields: { node: repeated('NodeProto', 1), initializer: repeated('TensorProto', 5), input: repeated('ValueInfoProto', 11), output: repeated('ValueInfoProto', 12), sparseInitializer: repeated('SparseTensorProto', 15) } },
    FunctionProto: { fields: { node: repeated('NodeProto', 7) } },
    NodeProto: { fields: { attribute: repeated('AttributeProto', 5) } },
    AttributeProto: { fields: { t: { type: 'TensorProto', id: 5 }, g: { type: 'GraphProto', id: 6 }, tensors: repeated('TensorProto', 10), graphs: repeated('GraphProto', 11), sparseTensor: { type: 'SparseTensorProto', id: 22 }, sparseTensors: repeated('SparseTensorProto', 23) } },
    TensorProto: { fields: { externalData: repeated('StringStringEntryProto', 13) } },
    SparseTensorProto: { fields: { values: { type: 'TensorProto', id: 1 }, indices: { type: 'TensorProto', id: 2 } } },
    ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
    TypeProto: { fields: { tensorType: { type: 'TensorTypeProto', id: 1 } } },
    TensorTypeProto: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
    TensorShapeProto: { fields: { dim: repeated('Dimension', 1) } },
    Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
  },
};

function withProtobufjs(protobuf, file) {
  const Model = protobuf.Root.fromJSON(SCHEMA).lookupType('ModelProto');
  const model = Model.decode(fs.readFileSync(file));
  const metadata = Object.fromEntries(model.metadataProps.map((e) => [e.key, e.value]));
  const locations = new Set();
  const tensor = (t) => t?.externalData?.forEach((e) => e.key === 'location' && locations.add(e.value));
  const sparse = (s) => { tensor(s?.values); tensor(s?.indices); };
  const graph = (g) => {
    g?.initializer?.forEach(tensor);
    g?.sparseInitializer?.forEach(sparse);
    g?.node?.forEach(node);
  };
  function node(n) {
    for (const a of n.attribute ?? []) {
      tensor(a.t); a.tensors?.forEach(tensor); graph(a.g); a.graphs?.forEach(graph); sparse(a.sparseTensor); a.sparseTensors?.forEach(sparse);
    }
  }
  graph(model.graph);
  model.functions?.forEach((f) => f.node?.forEach(node));
  return { metadataKeys: Object.keys(metadata).length, inputs: model.graph.input.map((i) => i.name), locations: locations.size };
}

function withWalker(lib, file) {
  const info = lib.readModelInfo(file);
  const external = lib.externalDataFiles(file);
  return { metadataKeys: Object.keys(info.metadata).length, inputs: info.inputs.map((i) => i.name), locations: external.length };
}

function peakRss() {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** One reader, one file, in this process: median and min of `runs` timed calls, and the peak RSS growth. */
function measure(read, runs) {
  global.gc?.();
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux: peak stays cumulative
  }
  const before = peakRss();
  const times = [];
  let result;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    result = read();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { result, median: times[Math.floor(times.length / 2)], min: times[0], peakMiB: (peakRss() - before) / 2 ** 20 };
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--make-single') {
    const get = (name) => args[args.indexOf(name) + 1];
    return makeSingle(args[1], get('--from'), Number(get('--bytes')));
  }
  const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 5;
  const files = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs');
  const protobuf = require(process.env.PROTOBUFJS || 'protobufjs');
  const lib = {
    readModelInfo: require(path.join(ROOT, 'dist', 'model', 'metadata.js')).readModelInfo,
    externalDataFiles: require(path.join(ROOT, 'dist', 'model', 'external-data.js')).externalDataFiles,
  };
  const version = require(path.join(path.dirname(require.resolve(process.env.PROTOBUFJS || 'protobufjs')), 'package.json')).version;
  console.log(`node ${process.version}, protobufjs ${version}; ${runs} runs each, warm page cache (one untimed run first)`);
  console.log('model | .onnx size | reader | median ms | min ms | peak RSS growth MiB | metadata keys / inputs / external files');
  for (const file of files) {
    const size = fs.statSync(file).size;
    const readers = [['walker (lib/model)', () => withWalker(lib, file)], ['protobufjs', () => withProtobufjs(protobuf, file)]];
    const rows = [];
    for (const [name, read] of readers) {
      read(); // page cache and JIT warm
      rows.push([name, measure(read, runs)]);
    }
    for (const [name, m] of rows) {
      const r = m.result;
      console.log(`${path.basename(file)} | ${(size / 2 ** 20).toFixed(2)} MiB | ${name} | ${m.median.toFixed(2)} | ${m.min.toFixed(2)} | ${m.peakMiB.toFixed(0)} | ${r.metadataKeys} / ${r.inputs.join(',')} / ${r.locations}`);
    }
    const ratio = rows[1][1].median / rows[0][1].median;
    console.log(`${path.basename(file)}: protobufjs / walker = ${ratio.toFixed(1)}x (median)`);
  }
}

main();

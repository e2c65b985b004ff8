// read.mjs reads a file that holds Arrow IPC streams one after the other, as
// arrowstore stores a key's values, with apache-arrow (JavaScript), and
// prints what it read as JSON for ../../js_interop_test.go to compare:
//
//	node read.mjs [--codecs=zstd,lz4] [--values] FILE
//
//	{"streams": [{"fields": [{"name", "type", "nullable"}], "batches", "rows",
//	              "columns": [{"nulls", "digest"[, "values"]}]}]}
//
// Every value of a column is rendered as a string (render below: the Go test
// renders the batches it appended the same way), and a column's digest is
// the SHA-256 of its rendered values in order, each as its UTF-8 byte length
// in decimal, ":", and the text. --values prints the rendered values too.
//
// Without --codecs no codec is registered, as in a plain apache-arrow, and a
// compressed message is an error ("Record batch is compressed but codec not
// found", or "Dictionary batch ..." where a dictionary comes first);
// --codecs registers pure-JS decoders: fzstd for ZSTD, lz4js for LZ4_FRAME.
// Errors go to stderr, with exit status 1.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CompressionType, Precision, RecordBatchReader, Type, Vector, compressionRegistry,
} from 'apache-arrow';
import { decompress as zstdDecompress } from 'fzstd';
import lz4 from 'lz4js';

function usage() {
  process.stderr.write('usage: node read.mjs [--codecs=zstd,lz4] [--values] FILE\n');
  process.exit(2);
}

let file = null;
let codecs = [];
let withValues = false;
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--codecs=')) {
    codecs = arg.slice('--codecs='.length).split(',').filter((c) => c !== '');
  } else if (arg === '--values') {
    withValues = true;
  } else if (arg.startsWith('-') || file !== null) {
    usage();
  } else {
    file = arg;
  }
}
if (file === null) usage();

// aligned returns bytes, copied to memory of their own where they do not
// start at a multiple of 8 bytes: apache-arrow makes typed arrays (a
// BigInt64Array for int64) over what a codec decodes, which need that, and
// fzstd can return a view into a larger buffer at any offset.
function aligned(bytes) {
  return bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
}

for (const c of codecs) {
  switch (c) {
    case 'zstd':
      compressionRegistry.set(CompressionType.ZSTD, { decode: (b) => aligned(zstdDecompress(b)) });
      break;
    case 'lz4':
      compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: (b) => aligned(lz4.decompress(b)) });
      break;
    default:
      process.stderr.write(`read.mjs: unknown codec ${JSON.stringify(c)}\n`);
      process.exit(2);
  }
}

// vectorOf returns a Vector over one Data, made once per Data.
const vectors = new WeakMap();
function vectorOf(data) {
  let v = vectors.get(data);
  if (v === undefined) {
    v = new Vector([data]);
    vectors.set(data, v);
  }
  return v;
}

const scratch = new DataView(new ArrayBuffer(8));

function floatBits(x, precision) {
  if (Number.isNaN(x)) return 'NaN';
  if (precision === Precision.SINGLE) {
    scratch.setFloat32(0, x);
    return scratch.getUint32(0).toString(16).padStart(8, '0');
  }
  scratch.setFloat64(0, x);
  return scratch.getBigUint64(0).toString(16).padStart(16, '0');
}

function hex(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

// render renders value i of data. Values come from apache-arrow's own
// accessors (Vector.get), except timestamps, which get returns as float
// milliseconds: those are the stored count of the type's unit.
function render(data, i) {
  if (!data.getValid(i)) return 'null';
  const type = data.type;
  switch (type.typeId) {
    case Type.Int:
    case Type.Bool:
    case Type.Decimal: // the unscaled integer
      return String(vectorOf(data).get(i));
    case Type.Float:
      return floatBits(vectorOf(data).get(i), type.precision);
    case Type.Utf8:
    case Type.LargeUtf8:
      return '"' + vectorOf(data).get(i);
    case Type.Binary:
    case Type.LargeBinary:
      return hex(vectorOf(data).get(i));
    case Type.Date: // days: get returns milliseconds since the epoch
      return String(vectorOf(data).get(i) / 86400000);
    case Type.Timestamp:
      return String(data.values[i]);
    case Type.List: {
      const items = vectorOf(data).get(i);
      const out = [];
      for (const d of items.data) {
        for (let j = 0; j < d.length; j++) out.push(render(d, j));
      }
      return '[' + out.join(',') + ']';
    }
    case Type.Struct:
      return '{' + data.children.map((c) => render(c, i)).join(',') + '}';
    case Type.Dictionary: {
      const v = vectorOf(data).get(i);
      return renderScalar(type.dictionary, v);
    }
    default:
      throw new Error(`read.mjs: no rendering for type ${type}`);
  }
}

// renderScalar renders a value of a dictionary's value type, as get
// returned it.
function renderScalar(type, v) {
  switch (type.typeId) {
    case Type.Int:
      return String(v);
    case Type.Utf8:
    case Type.LargeUtf8:
      return '"' + v;
    case Type.Binary:
    case Type.LargeBinary:
      return hex(v);
    default:
      throw new Error(`read.mjs: no rendering for dictionary values of type ${type}`);
  }
}

// column renders a column of a stream: its Data in every batch, in order.
function column(chunks) {
  const rendered = [];
  let nulls = 0;
  for (const data of chunks) {
    for (let i = 0; i < data.length; i++) {
      const s = render(data, i);
      if (s === 'null') nulls++;
      rendered.push(s);
    }
  }
  const digest = createHash('sha256')
    .update(rendered.map((s) => `${Buffer.byteLength(s)}:${s}`).join(''))
    .digest('hex');
  return withValues ? { nulls, digest, values: rendered } : { nulls, digest };
}

try {
  const bytes = readFileSync(file);
  const streams = [];
  for (const reader of RecordBatchReader.readAll(bytes)) {
    const batches = reader.readAll();
    const schema = reader.schema;
    const fields = schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
    const cols = schema.fields.map((_, k) => batches.flatMap((b) => b.getChildAt(k).data));
    streams.push({
      fields,
      batches: batches.length,
      rows: batches.reduce((n, b) => n + b.numRows, 0),
      columns: cols.map(column),
    });
  }
  process.stdout.write(JSON.stringify({ streams }) + '\n');
} catch (e) {
  process.stderr.write(`read.mjs: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
}

#!/usr/bin/env node
// Run a TF.js graph model (model.json + weight shards) on inputs the studio wrote, and write its outputs back.
//
//   node runner.js MODEL_DIR IO_DIR
//
// IO_DIR/inputs.json lists [{name, dtype, shape, file}]; each file holds the tensor's raw little-endian bytes
// (float32, int32 or bool as uint8), so values cross the process boundary exactly. The outputs are written the
// same way: IO_DIR/outputs.json and one .bin per output, in the model's output order. The model is read from disk
// by this script and handed to TF.js with tf.io.fromMemory: pure JavaScript (@tensorflow/tfjs on its CPU
// backend), no native add-on, no network. Timings go in outputs.json ("load_ms", "run_ms").
//
// A failure prints one line on stderr ("runner: ...") and exits 1; the studio shows that line.
"use strict";

const fs = require("fs");
const path = require("path");

const ARRAYS = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

function fail(message) {
  process.stderr.write(`runner: ${String(message).split("\n")[0]}\n`);
  process.exit(1);
}

function readJson(file, what) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    fail(`cannot read ${what} ${file}: ${err.code || err.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    fail(`${what} ${file} is not valid JSON: ${err.message}`);
  }
}

function toArrayBuffer(buffer) {
  // A Buffer may be a view into a shared pool at an unaligned offset: copy it into its own ArrayBuffer.
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

async function loadModel(tf, modelDir) {
  const modelJson = readJson(path.join(modelDir, "model.json"), "model file");
  if (!modelJson || typeof modelJson !== "object" || !modelJson.modelTopology || !modelJson.weightsManifest) {
    fail(`${path.join(modelDir, "model.json")} is not a TF.js graph model (no modelTopology or weightsManifest)`);
  }
  const loadWeights = async (manifest) => {
    const specs = [];
    const shards = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const shard of group.paths) {
        try {
          shards.push(fs.readFileSync(path.join(modelDir, shard)));
        } catch (err) {
          fail(`weight shard ${shard} of ${modelDir}: ${err.code || err.message}`);
        }
      }
    }
    return [specs, toArrayBuffer(Buffer.concat(shards))];
  };
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson, loadWeights);
  return tf.loadGraphModel(tf.io.fromMemory(artifacts));
}

function readInputs(tf, ioDir) {
  const feeds = {};
  for (const spec of readJson(path.join(ioDir, "inputs.json"), "inputs list")) {
    const Array_ = ARRAYS[spec.dtype];
    if (!Array_) fail(`input ${spec.name}: dtype ${spec.dtype} is not one TF.js takes (float32, int32, bool)`);
    const values = new Array_(toArrayBuffer(fs.readFileSync(path.join(ioDir, spec.file))));
    feeds[spec.name] = tf.tensor(values, spec.shape, spec.dtype);
  }
  return feeds;
}

async function writeOutputs(ioDir, names, tensors, timings) {
  const written = [];
  for (let i = 0; i < tensors.length; i++) {
    const tensor = tensors[i];
    const values = await tensor.data();
    const dtype = tensor.dtype === "bool" ? "bool" : tensor.dtype;
    if (!ARRAYS[dtype]) fail(`output ${names[i]}: dtype ${tensor.dtype} cannot be written back`);
    const file = `output_${i}.bin`;
    const typed = dtype === "bool" ? Uint8Array.from(values) : values;
    fs.writeFileSync(path.join(ioDir, file), Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength));
    written.push({ name: names[i], dtype, shape: tensor.shape, file });
  }
  fs.writeFileSync(path.join(ioDir, "outputs.json"), JSON.stringify({ outputs: written, ...timings }));
}

async function main() {
  const [modelDir, ioDir] = process.argv.slice(2);
  if (!modelDir || !ioDir) fail("usage: node runner.js MODEL_DIR IO_DIR");
  const tf = require("@tensorflow/tfjs");
  await tf.setBackend("cpu");
  let t0 = performance.now();
  let model;
  try {
    model = await loadModel(tf, modelDir);
  } catch (err) {
    fail(`cannot load the TF.js model in ${modelDir}: ${err.message}`);
  }
  const loadMs = performance.now() - t0;
  const feeds = readInputs(tf, ioDir);
  const names = model.outputs.map((o) => o.name);
  t0 = performance.now();
  let result;
  try {
    result = await model.executeAsync(feeds, names);
  } catch (err) {
    fail(`TF.js could not run the model: ${err.message}`);
  }
  const runMs = performance.now() - t0;
  const tensors = Array.isArray(result) ? result : [result];
  await writeOutputs(ioDir, names, tensors, { load_ms: loadMs, run_ms: runMs, backend: tf.getBackend() });
}

main().catch((err) => fail(err && err.message ? err.message : err));

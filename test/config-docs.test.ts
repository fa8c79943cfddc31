// docs/configuration.md documents every key of the schema (src/config/schema.ts): each key appears
// in its section's table, so the documentation cannot silently fall behind the code.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import type { z } from "zod";
import { configSchema } from "../src/config/schema.js";

type S = z.core.$ZodType;
type Def = { type: string; innerType?: S; in?: S; shape?: Record<string, S>; valueType?: S };
const def = (s: S): Def => s._zod.def as unknown as Def;
function unwrap(s: S): S {
  for (;;) {
    const d = def(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === "pipe" && d.in) s = d.in;
    else return s;
  }
}

/** [section heading, key as written in the section's table] for every key. */
function documentedKeys(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (section: string, prefix: string, s: S): void => {
    const d = def(unwrap(s));
    if (d.type === "object" && d.shape) {
      for (const [k, v] of Object.entries(d.shape)) {
        const inner = def(unwrap(v));
        const key = prefix ? `${prefix}.${k}` : k;
        if (inner.type === "object") walk(section, key, v);
        else if (inner.type === "record" && inner.valueType && def(unwrap(inner.valueType)).type === "object") walk(section, `${key}.NAME`, inner.valueType);
        else out.push([section, key]);
      }
    }
  };
  for (const [top, s] of Object.entries(def(configSchema).shape!)) {
    const d = def(unwrap(s));
    if (d.type === "record" && d.valueType) walk(`[${top}.NAME]`, "", d.valueType);
    else walk(`[${top}]`, "", s);
  }
  return out;
}

test("docs/configuration.md documents every configuration key in its section", async () => {
  const doc = await readFile(new URL("../docs/configuration.md", import.meta.url), "utf8");
  const sections = new Map<string, string>();
  for (const part of doc.split(/^### /m).slice(1)) {
    const m = /^`([^`]+)`/.exec(part);
    if (m) sections.set(m[1]!, part);
  }
  const keys = documentedKeys();
  assert.ok(keys.length >= 55, `walked ${keys.length} keys`);
  const missing = keys.filter(([section, key]) => !(sections.get(section) ?? "").includes(`| \`${key}\` |`));
  assert.deepEqual(missing, [], "keys without a row in docs/configuration.md");
});

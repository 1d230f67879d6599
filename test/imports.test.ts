import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const LIB = path.join(__dirname, '..', 'lib');

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

// static imports and re-exports (`import type` too: a cycle of types is still two modules
// that cannot be read one before the other), side-effect imports, require() and import()
const SPECIFIERS = [
  /\b(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]*)['"]/g,
  /\b(?:require|import)\s*\(\s*['"](\.{1,2}\/[^'"]*)['"]\s*\)/g,
];

/** The files of lib/ that `file` imports (relative imports only: packages cannot import us back). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = new Set<string>();
  for (const re of SPECIFIERS) {
    for (const m of text.matchAll(re)) {
      const base = path.resolve(path.dirname(file), m[1]);
      const target = [`${base}.ts`, path.join(base, 'index.ts'), base].find((p) => existsSync(p) && statSync(p).isFile());
      if (!target) throw new Error(`${path.relative(LIB, file)}: cannot resolve ${m[1]}`);
      if (target.endsWith('.ts')) found.add(target);
    }
  }
  return [...found];
}

/** The import cycles of a graph: its strongly connected components of more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** A folder of lib/ (`http`, `webhooks`), or a file at its top (`coordinator.ts`): the layers. */
const layerOf = (file: string) => path.relative(LIB, file).split(path.sep)[0];

/**
 * Cycles known and accepted: none. (The last two went with WebhookNotifier moving to its
 * consumer, telemetry, and a run's types to lib/webhooks/run.ts.) A new cycle fails.
 */
const KNOWN_FILE_CYCLES: string[] = [];
const KNOWN_LAYER_CYCLES: string[] = [];

describe('lib/ imports', () => {
  const graph = new Map(sources(LIB).map((f) => [f, importsOf(f)]));

  it('between layers point one way (no cycle of folders)', () => {
    const layers = new Map<string, string[]>();
    for (const [file, imports] of graph) {
      const from = layerOf(file);
      const to = imports.map(layerOf).filter((l) => l !== from);
      layers.set(from, [...new Set([...(layers.get(from) ?? []), ...to])]);
    }
    expect(layers.size).to.be.greaterThan(8);
    const found = cycles(layers).map((c) => c.join(' <-> '));
    expect(found.filter((c) => !KNOWN_LAYER_CYCLES.includes(c)), 'import cycles between the folders of lib/').to.deep.equal([]);
  });

  it('between files form no cycle', () => {
    expect(graph.size).to.be.greaterThan(40);
    const found = cycles(graph).map((c) => c.map((f) => path.relative(LIB, f).split(path.sep).join('/')).join(' <-> '));
    expect(found.filter((c) => !KNOWN_FILE_CYCLES.includes(c)), 'import cycles between the files of lib/').to.deep.equal([]);
  });

  it('finds a cycle when there is one (the check itself)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).to.deep.equal([['a', 'b', 'c']]);
    expect(cycles(new Map([['a', ['a']]]))).to.deep.equal([['a']]);
    expect(cycles(new Map([['a', ['b']], ['b', []]]))).to.deep.equal([]);
  });
});

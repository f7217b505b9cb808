// The job graph: laid out by dagre (once per plan), drawn as SVG. Every
// vertex is coloured like Flink's: idle blue → busy red by its busy time,
// and grey to black with a hatch when it is backpressured rather than busy.
// Live updates only change the text and fill of the existing nodes (keyed
// by vertex id); the layout is not recomputed while the plan stays the same.

import { Graph, layout } from '@dagrejs/dagre';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { PlanNode, Vertex } from '../api';
import { fmtRate, fmtRatio } from '../format';
import type { Rate } from '../throughput';

const NODE_W = 250;
const NODE_H = 112;

interface Laid {
  width: number;
  height: number;
  nodes: { id: string; x: number; y: number }[];
  edges: { from: string; to: string; strategy: string; points: { x: number; y: number }[]; lx: number; ly: number }[];
}

const labelWidth = (s: string) => 18 + 7.6 * s.length;

function doLayout(nodes: PlanNode[]): Laid {
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 36, ranksep: 70, edgesep: 20, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: NODE_W, height: NODE_H });
  const ids = new Set(nodes.map((n) => n.id));
  for (const n of nodes)
    for (const [i, inp] of (n.inputs ?? []).entries()) {
      if (!ids.has(inp.id)) continue;
      g.setEdge(inp.id, n.id, { width: labelWidth(inp.ship_strategy), height: 20, labelpos: 'c', strategy: inp.ship_strategy }, `${inp.id}->${n.id}#${i}`);
    }
  layout(g);
  const gl = g.graph() as { width?: number; height?: number };
  return {
    width: gl.width ?? 0,
    height: gl.height ?? 0,
    nodes: g.nodes().map((id) => {
      const n = g.node(id) as { x: number; y: number };
      return { id, x: n.x, y: n.y };
    }),
    edges: g.edges().map((e) => {
      const l = g.edge(e) as { points: { x: number; y: number }[]; x: number; y: number; strategy: string };
      return { from: e.v, to: e.w, strategy: l.strategy, points: l.points, lx: l.x, ly: l.y };
    }),
  };
}

/** A smooth path through dagre's points (a uniform B-spline, like d3's curveBasis). */
function curve(p: { x: number; y: number }[]): string {
  if (p.length < 3) return p.map((q, i) => `${i ? 'L' : 'M'}${q.x},${q.y}`).join('');
  let d = `M${p[0].x},${p[0].y}L${(5 * p[0].x + p[1].x) / 6},${(5 * p[0].y + p[1].y) / 6}`;
  for (let i = 1; i < p.length - 1; i++) {
    const a = p[i - 1],
      b = p[i],
      c = p[i + 1];
    d += `C${(2 * a.x + b.x) / 3},${(2 * a.y + b.y) / 3} ${(a.x + 2 * b.x) / 3},${(a.y + 2 * b.y) / 3} ${(a.x + 4 * b.x + c.x) / 6},${(a.y + 4 * b.y + c.y) / 6}`;
  }
  const a = p[p.length - 2],
    b = p[p.length - 1];
  d += `C${(2 * a.x + b.x) / 3},${(2 * a.y + b.y) / 3} ${(a.x + 2 * b.x) / 3},${(a.y + 2 * b.y) / 3} ${b.x},${b.y}`;
  return d;
}

/** Fill and text colour of a vertex from its busy and backpressured ms per second. */
export function vertexColour(busyMs: number, bpMs: number, running: boolean): { fill: string; text: string; hatch: boolean } {
  const busy = Math.max(0, Math.min(1, busyMs / 1000));
  const bp = Math.max(0, Math.min(1, bpMs / 1000));
  if (!running) return { fill: 'var(--node-inactive)', text: 'var(--node-inactive-text)', hatch: false };
  if (bp > busy && bp > 0.05) {
    const l = Math.round(62 - 50 * bp);
    return { fill: `hsl(220, 8%, ${l}%)`, text: l > 50 ? '#111' : '#fff', hatch: true };
  }
  // 215 (blue) → 360 (red), through violet.
  const hue = Math.round(215 + 145 * busy) % 360;
  return { fill: `hsl(${hue}, 72%, ${46 - 4 * busy}%)`, text: '#fff', hatch: false };
}

function lines(name: string): string[] {
  const parts = name.split(' -> ');
  const out: string[] = [];
  for (const p of parts) out.push(p.length > 34 ? p.slice(0, 33) + '…' : p);
  if (out.length > 2) return [out[0], `… ${out.length - 1} chained → ${out[out.length - 1]}`.slice(0, 34)];
  return out;
}

export function JobGraph({ plan, vertices, rates, selected, onSelect }: {
  plan: PlanNode[];
  vertices: Vertex[];
  rates: Map<string, Rate>;
  selected?: string | null;
  onSelect: (id: string) => void;
}) {
  const sig = plan.map((n) => `${n.id}<${(n.inputs ?? []).map((i) => i.id + ':' + i.ship_strategy).join(',')}`).join('|');
  const laid = useMemo(() => doLayout(plan), [sig]);
  const byId = useMemo(() => new Map(vertices.map((v) => [v.id, v])), [vertices]);
  const desc = useMemo(() => new Map(plan.map((n) => [n.id, n])), [sig]);
  const wrap = useRef<HTMLDivElement>(null);
  const [avail, setAvail] = useState(0);
  const [zoom, setZoom] = useState<number | 'fit'>('fit');
  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setAvail(el.clientWidth));
    ro.observe(el);
    setAvail(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const fit = avail && laid.width ? Math.min(1.25, Math.max(0.7, (avail - 4) / laid.width)) : 1;
  const scale = zoom === 'fit' ? fit : zoom;
  const w = Math.ceil(laid.width * scale);
  const h = Math.ceil(laid.height * scale);

  return (
    <div class="graph">
      <div class="graph-tools">
        <button class="btn btn-sm" onClick={() => setZoom(Math.max(0.3, scale / 1.2))} aria-label="Zoom out">
          −
        </button>
        <button class="btn btn-sm" onClick={() => setZoom('fit')} aria-pressed={zoom === 'fit'}>
          Fit
        </button>
        <button class="btn btn-sm" onClick={() => setZoom(Math.min(2.5, scale * 1.2))} aria-label="Zoom in">
          +
        </button>
        <span class="graph-legend">
          <span class="lg lg-idle" /> idle <span class="lg lg-busy" /> busy <span class="lg lg-bp" /> backpressured
        </span>
      </div>
      <div class="graph-canvas" ref={wrap}>
        <svg width={w} height={h} viewBox={`0 0 ${laid.width} ${laid.height}`} class="graph-svg" data-testid="job-graph" role="img" aria-label="Job graph">
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0L10,5L0,10z" fill="var(--edge)" />
            </marker>
            <pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
              <rect width="3" height="8" fill="rgba(0,0,0,0.28)" />
            </pattern>
          </defs>
          <g class="edges">
            {laid.edges.map((e) => (
              <g key={`${e.from}->${e.to}`} class="edge" data-from={e.from} data-to={e.to} data-strategy={e.strategy}>
                <path d={curve(e.points)} marker-end="url(#arrow)" />
                <rect x={e.lx - labelWidth(e.strategy) / 2} y={e.ly - 10} width={labelWidth(e.strategy)} height={20} rx={10} class="edge-label-bg" />
                <text x={e.lx} y={e.ly + 4} text-anchor="middle" class="edge-label">
                  {e.strategy}
                </text>
              </g>
            ))}
          </g>
          <g class="nodes">
            {laid.nodes.map((n) => {
              const v = byId.get(n.id);
              const p = desc.get(n.id);
              const m = v?.metrics;
              const running = v?.status === 'RUNNING';
              const c = vertexColour(m?.['busy-ms-per-second'] ?? 0, m?.['backpressured-ms-per-second'] ?? 0, running);
              const r = rates.get(n.id) ?? {};
              const name = v?.name ?? p?.description ?? n.id;
              const ls = lines(name);
              const x = n.x - NODE_W / 2;
              const y = n.y - NODE_H / 2;
              return (
                <g
                  key={n.id}
                  class={`node ${selected === n.id ? 'selected' : ''}`}
                  transform={`translate(${x},${y})`}
                  onClick={() => onSelect(n.id)}
                  data-vertex={n.id}
                  data-status={v?.status}
                  role="button"
                  tabIndex={0}
                  onKeyDown={(e) => e.key === 'Enter' && onSelect(n.id)}
                >
                  <title>{`${name}\nParallelism ${v?.parallelism ?? p?.parallelism}\nBusy ${fmtRatio(m?.['busy-ms-per-second'])}, backpressured ${fmtRatio(m?.['backpressured-ms-per-second'])}, idle ${fmtRatio(m?.['idle-ms-per-second'])}`}</title>
                  <rect width={NODE_W} height={NODE_H} rx={10} fill={c.fill} class="node-box" />
                  {c.hatch && <rect width={NODE_W} height={NODE_H} rx={10} fill="url(#hatch)" />}
                  <g fill={c.text}>
                    {ls.map((l, i) => (
                      <text key={i} x={12} y={22 + i * 17} class="node-title">
                        {l}
                      </text>
                    ))}
                    <text x={12} y={62} class="node-line">
                      Parallelism {v?.parallelism ?? p?.parallelism} · {v?.status ?? 'CREATED'}
                    </text>
                    <text x={12} y={80} class="node-line">
                      In {fmtRate(r.in)} · Out {fmtRate(r.out)}
                    </text>
                    <text x={12} y={98} class="node-line">
                      Busy {fmtRatio(m?.['busy-ms-per-second'])} · Backpressured {fmtRatio(m?.['backpressured-ms-per-second'])}
                    </text>
                  </g>
                </g>
              );
            })}
          </g>
        </svg>
      </div>
    </div>
  );
}

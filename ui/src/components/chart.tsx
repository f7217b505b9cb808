// Throughput over time with uPlot: one line per vertex. The plot is built
// once per set of series and fed with setData on every live update.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import { fmtCount } from '../format';

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777', '#65a30d', '#7c3aed', '#ea580c', '#0d9488', '#4f46e5'];

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function RateChart({ title, t, series, version, testid }: {
  title: string;
  t: number[];
  series: { label: string; data: (number | null)[] }[];
  version: number;
  testid?: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = series.map((s) => s.label).join('\n');

  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const axis = { stroke: css('--muted'), grid: { stroke: css('--grid'), width: 1 }, ticks: { stroke: css('--grid'), width: 1 } };
    const build = () => {
      plot.current?.destroy();
      const opts: uPlot.Options = {
        width: Math.max(280, host.clientWidth),
        height: 220,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { ...axis },
          { ...axis, size: 56, values: (_u, vals) => vals.map((v) => fmtCount(v)) },
        ],
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            points: { show: false },
            value: (_u: uPlot, v: number | null) => (v == null ? '–' : fmtCount(v) + '/s'),
          })),
        ],
      };
      plot.current = new uPlot(opts, [t, ...series.map((s) => s.data)] as uPlot.AlignedData, host);
    };
    build();
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(280, host.clientWidth), height: 220 }));
    ro.observe(host);
    const onTheme = () => build();
    addEventListener('weir-theme', onTheme);
    return () => {
      ro.disconnect();
      removeEventListener('weir-theme', onTheme);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [key]);

  useEffect(() => {
    plot.current?.setData([t, ...series.map((s) => s.data)] as uPlot.AlignedData);
  }, [version]);

  return (
    <div class="chart">
      <div class="chart-title">{title}</div>
      <div ref={el} class="chart-host" data-testid={testid} />
    </div>
  );
}

// The dashboard page: polls /api/job once a second and redraws. No framework, no external
// resources: it works offline, served by `clickstream dashboard`.
'use strict';

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat('en-US');
const time = (ms) => (ms === null || ms === undefined ? '–' : new Date(ms).toISOString().slice(11, 19));
const duration = (ms) => (ms === null || ms === undefined ? '–' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
const bytes = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fill(tableId, rows, toCells) {
  const body = $(tableId).querySelector('tbody');
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.append(...toCells(row));
      return tr;
    }),
  );
}

function drawChart(totals) {
  const svg = $('chart');
  if (totals.length === 0) {
    svg.replaceChildren();
    $('chart-caption').textContent = 'no closed windows yet';
    return;
  }
  const max = Math.max(...totals.map((t) => t.count), 1);
  const step = totals.length > 1 ? 600 / (totals.length - 1) : 0;
  const points = totals.map((t, i) => `${(i * step).toFixed(1)},${(195 - (t.count / max) * 185).toFixed(1)}`);
  const ns = 'http://www.w3.org/2000/svg';
  const area = document.createElementNS(ns, 'polygon');
  area.setAttribute('class', 'area');
  area.setAttribute('points', `0,200 ${points.join(' ')} ${((totals.length - 1) * step).toFixed(1)},200`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.replaceChildren(area, line);
  const last = totals[totals.length - 1];
  $('chart-caption').textContent = `${totals.length} windows · latest [${time(last.windowStart)}–${time(last.windowEnd)}) UTC: ${fmt.format(last.count)} clicks · max ${fmt.format(max)}`;
}

function drawTopology(topology) {
  const node = (text) => Object.assign(document.createElement('span'), { className: 'node', textContent: text });
  const arrow = () => Object.assign(document.createElement('span'), { className: 'arrow', textContent: '→' });
  const sinks = Object.assign(document.createElement('div'), { className: 'sinks' });
  sinks.append(...topology.sinks.map(node));
  const parts = [...topology.sources.map(node)];
  for (const stage of topology.stages) parts.push(arrow(), node(stage));
  parts.push(arrow(), sinks);
  $('topology').replaceChildren(...parts);
}

// "source 2: 0 1 · merge 2: 2 3": how many tasks of each stage a worker holds, and which.
function tasksPerStage(tasks) {
  return ['source', 'merge'].map((stage) => {
    const partitions = tasks.filter((t) => t.stage === stage).map((t) => t.partition).sort((a, b) => a - b);
    return `${stage} ${partitions.length}${partitions.length > 0 ? `: ${partitions.join(' ')}` : ''}`;
  }).join(' · ');
}

function render(job) {
  $('job').textContent = job.jobIds.length > 0 ? `job ${job.jobIds.join(', ')}` : 'no worker has reported yet';
  $('updated').textContent = `updated ${time(job.nowMs)} UTC`;
  const running = job.workers.filter((w) => w.state === 'running').length;
  $('stat-workers').textContent = `${running} / ${job.workers.length}`;
  $('stat-clicks').textContent = fmt.format(job.records.clicksIn);
  $('stat-late').textContent = fmt.format(job.records.late + job.records.lateAtMerge);
  $('stat-dlq').textContent = fmt.format(job.records.deadLettered);
  $('stat-corrections').textContent = fmt.format(job.lateness.correctionsPerMinute);
  const lateness = job.lateness.allowedLatenessMs;
  $('stat-lateness').textContent = lateness === null ? '' : lateness === 0 ? 'no allowed lateness' : `allowed lateness ${duration(lateness)}`;
  $('stat-checkpoints').textContent = `${fmt.format(job.checkpointStats.completed)}${job.checkpointStats.skipped ? ` (+${job.checkpointStats.skipped} not completed)` : ''}`;
  $('stat-p99').textContent = duration(job.checkpointStats.p99DurationMs);
  drawTopology(job.topology);
  drawChart(job.totals);
  $('top-window').textContent = job.topUrls.windowStart === null ? '' : `[${time(job.topUrls.windowStart)}–${time(job.topUrls.windowEnd)}) UTC`;
  fill('top-urls', job.topUrls.rows, (r) => [cell(r.url), cell(fmt.format(r.count), 'num')]);
  fill('workers', job.workers, (w) => [
    cell(w.worker),
    cell(w.state, `state-${w.state}`),
    cell(`${duration(w.lastSeenMsAgo)} ago`),
    cell([
      tasksPerStage(w.tasks),
      ...(w.restoring || []).map((r) => `restoring ${r.task} from the changelog: ${r.percent} % (${fmt.format(r.records)} records, ${fmt.format(r.recordsPerSec)}/s)`),
      ...(w.waiting || []).map((t) => `${t.task} waits to open (${duration(t.waitedMs)}): ${t.reason}`),
    ].filter(Boolean).join(' · ')),
    cell(fmt.format(w.metrics.clicksIn), 'num'),
    cell(fmt.format(w.metrics.late + w.metrics.lateAtMerge), 'num'),
    cell(fmt.format(w.metrics.deadLettered), 'num'),
    cell(w.metricsUrl || '–'),
  ]);
  fill('partitions', job.partitions, (t) => [
    cell(`${t.stage}-${t.partition}`),
    cell(t.worker),
    cell(t.nextOffset === null ? '–' : fmt.format(t.nextOffset), 'num'),
    cell(t.lag === null ? '–' : fmt.format(t.lag), 'num'),
    cell(time(t.watermarkMs)),
    cell(duration(t.eventTimeSkewMs), 'num'),
    cell(fmt.format(t.recordsPerSec), 'num'),
    cell(fmt.format(t.openKeys), 'num'),
    cell(t.idle ? 'idle' : ''),
  ]);
  fill('checkpoints', job.checkpoints.slice(0, 30), (c) => [
    cell(String(c.id), 'num'),
    cell(c.worker),
    cell(time(c.startedAtMs)),
    cell(duration(c.durationMs), 'num'),
    cell(bytes(c.bytes), 'num'),
    cell(c.tasks.map((t) => `${t.stage}-${t.partition}`).join(' ')),
    cell(c.status === 'completed' ? 'completed' : `${c.status}: ${c.reason || ''}`, `status-${c.status}`),
  ]);
  fill('savepoints', job.savepoints, (s) => [cell(s.savepointId), cell(time(s.atMs)), cell(s.workers.join(' ')), cell(s.stop ? 'stop' : '')]);
}

async function refresh() {
  try {
    const response = await fetch('api/job', { cache: 'no-store' });
    if (response.ok) render(await response.json());
  } catch {
    $('updated').textContent = 'dashboard unreachable, retrying…';
  }
}

refresh();
setInterval(refresh, 1000);

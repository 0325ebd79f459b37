// dziura's HTML report. Every name comes from the profile: it is only ever set with
// textContent or as an attribute value, never parsed as markup.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('dziura-data').textContent);
  var F = D.funcs;
  var M = D.meta;
  var sampled = M.samples !== null && M.samples !== undefined;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmtTime(s) {
    if (!(s > 0)) return '0 s';
    if (s >= 1) return s.toFixed(3) + ' s';
    if (s >= 1e-3) return (s * 1e3).toFixed(2) + ' ms';
    return (s * 1e6).toFixed(1) + ' \u00b5s';
  }
  function share(v) { return M.total > 0 ? 100 * v / M.total : 0; }
  function fmtPct(p) { return (p >= 10 ? p.toFixed(1) : p.toFixed(2)) + '%'; }
  function name(n) { return n.t !== undefined ? n.t : F[n.f].name; }
  function loc(n) {
    if (n.f === undefined) return '';
    var f = F[n.f];
    return f.builtin ? '' : f.short + ':' + f.line;
  }
  function fullLoc(n) {
    if (n.f === undefined) return '';
    var f = F[n.f];
    return f.builtin ? '' : f.file + ':' + f.line;
  }
  function countText(n) {
    if (n.n === undefined) return '';
    if (sampled) return n.n + (n.n === 1 ? ' sample' : ' samples');
    return n.n + (n.n === 1 ? ' call' : ' calls');
  }

  // Parents and depths, without recursion (trees can be deep).
  var root = D.tree;
  var all = [];
  var maxDepth = 0;
  (function () {
    root.p = null; root.d = 0;
    var stack = [root];
    while (stack.length) {
      var n = stack.pop();
      all.push(n);
      if (n.d > maxDepth) maxDepth = n.d;
      var c = n.c || [];
      for (var i = 0; i < c.length; i++) { c[i].p = n; c[i].d = n.d + 1; stack.push(c[i]); }
    }
  })();

  // ---- header ----
  document.getElementById('title').textContent = M.title;
  var meta = document.getElementById('meta');
  function metaItem(k, v) {
    if (v === undefined || v === null || v === '') return;
    var d = el('div');
    d.appendChild(el('dt', '', k));
    d.appendChild(el('dd', '', v));
    meta.appendChild(d);
  }
  metaItem('mode', M.mode || '?');
  metaItem('Python', M.python_version);
  metaItem('command', M.command);
  metaItem('host', M.host);
  if (M.start_time > 0) metaItem('started', new Date(M.start_time * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  metaItem('duration', fmtTime(M.duration));
  if (sampled) {
    metaItem('total', M.samples + ' samples \u00d7 ' + fmtTime(M.interval) + ' = ' + fmtTime(M.total));
  } else {
    metaItem('total', fmtTime(M.total) + ' in ' + M.calls + ' calls');
  }
  metaItem('threads', M.threads);
  metaItem('functions', F.length);
  metaItem('call tree', {
    timeline: 'exact, from the traced timeline',
    samples: 'exact, from the sampled stacks',
    edges: 'from caller\u2192callee totals (a function called from several places has one total, split among them in proportion: an estimate)'
  }[M.tree_source]);
  if (M.truncated) metaItem('note', 'call tree cut short (too many nodes)');

  // ---- flame graph ----
  var flame = document.getElementById('flame');
  var detail = document.getElementById('flame-detail');
  var search = document.getElementById('search');
  var matchInfo = document.getElementById('match-info');
  var ROW = 18;
  var zoom = root;
  var matcher = null;

  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return Math.abs(h);
  }
  function color(n) {
    if (n.f === undefined) return '#cfcfcf';
    var f = F[n.f];
    var h = hue(f.name + f.file);
    if (f.builtin) return 'hsl(' + (190 + h % 30) + ',55%,' + (68 + h % 12) + '%)';
    if (/site-packages|dist-packages/.test(f.file)) return 'hsl(' + (95 + h % 30) + ',50%,' + (60 + h % 15) + '%)';
    if (/\/lib\/python\d/.test(f.file)) return 'hsl(' + (45 + h % 12) + ',75%,' + (60 + h % 15) + '%)';
    return 'hsl(' + (h % 35) + ',80%,' + (62 + h % 15) + '%)';
  }
  function matches(n) {
    if (!matcher || n.f === undefined) return false;
    var f = F[n.f];
    return matcher(f.name) || (!f.builtin && matcher(f.file + ':' + f.line));
  }
  function describe(n) {
    var parts = [name(n)];
    var l = fullLoc(n);
    if (l) parts.push('(' + l + ')');
    var nums = [fmtPct(share(n.v)), fmtTime(n.v)];
    if (n.s > 0) nums.push('own ' + fmtTime(n.s));
    var c = countText(n);
    if (c) nums.push(c);
    parts.push('\u2014 ' + nums.join(', '));
    if (n.r) parts.push('[recursion: not expanded]');
    return parts.join(' ');
  }
  function rect(n, x, w, depth, cls) {
    var r = el('div', 'fr' + (cls ? ' ' + cls : ''), name(n));
    r.style.left = (x * 100) + '%';
    r.style.width = (w * 100) + '%';
    r.style.top = ((maxDepth - depth) * ROW) + 'px';
    r.style.backgroundColor = color(n);
    if (n.r) r.classList.add('rec');
    if (n === root) r.classList.add('root');
    if (matches(n)) r.classList.add('match');
    r.title = describe(n);
    r.dziuraNode = n;
    flame.appendChild(r);
  }
  function drawFlame() {
    while (flame.firstChild) flame.removeChild(flame.firstChild);
    flame.style.height = ((maxDepth + 1) * ROW + 2) + 'px';
    var px = flame.clientWidth || 1000;
    var minW = 0.5 / px;
    // The zoomed node's ancestors, full width.
    for (var a = zoom.p; a; a = a.p) rect(a, 0, 1, a.d, 'anc');
    var stack = [[zoom, 0, 1]];
    while (stack.length) {
      var it = stack.pop();
      var n = it[0], x = it[1], w = it[2];
      rect(n, x, w, n.d, '');
      var c = n.c || [];
      if (!c.length || !(n.v > 0)) continue;
      var sum = 0;
      for (var i = 0; i < c.length; i++) sum += c[i].v;
      // Traced trees take each edge's totals; never let children overflow their parent.
      var scale = w / Math.max(n.v, sum);
      var cx = x;
      for (var j = 0; j < c.length; j++) {
        var cw = c[j].v * scale;
        if (cw >= minW) stack.push([c[j], cx, cw]);
        cx += cw;
      }
    }
  }
  flame.addEventListener('click', function (ev) {
    var n = ev.target && ev.target.dziuraNode;
    if (!n) return;
    zoom = n;
    drawFlame();
  });
  flame.addEventListener('mouseover', function (ev) {
    var n = ev.target && ev.target.dziuraNode;
    detail.textContent = n ? describe(n) : '\u00a0';
  });
  document.getElementById('reset-zoom').addEventListener('click', function () { zoom = root; drawFlame(); });
  function makeMatcher(q) {
    if (!q) return null;
    try {
      var re = new RegExp(q, 'i');
      return function (s) { return re.test(s); };
    } catch (e) {
      var lower = q.toLowerCase();
      return function (s) { return s.toLowerCase().indexOf(lower) >= 0; };
    }
  }
  function applySearch() {
    matcher = makeMatcher(search.value);
    if (!matcher) {
      matchInfo.textContent = '';
    } else {
      // Matched share: a match inside a matched node is already counted.
      var total = 0, count = 0;
      var stack = [[root, false]];
      while (stack.length) {
        var it = stack.pop();
        var n = it[0], inside = it[1];
        var m = matches(n);
        if (m) { count++; if (!inside) total += n.v; }
        var c = n.c || [];
        for (var i = 0; i < c.length; i++) stack.push([c[i], inside || m]);
      }
      matchInfo.textContent = count + ' matching frames, ' + fmtPct(share(Math.min(total, M.total || total))) + ' of the total';
    }
    drawFlame();
  }
  search.addEventListener('input', applySearch);
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawFlame, 100);
  });

  // ---- call tree ----
  var tree = document.getElementById('tree');
  function treeItem(n) {
    var li = el('li');
    li.dziuraNode = n;
    var row = el('div', 'row');
    var has = n.c && n.c.length > 0;
    row.appendChild(el('span', 'tg', has ? '\u25b8' : (n.r ? '\u21bb' : '\u00b7')));
    row.appendChild(el('span', 'pct', fmtPct(share(n.v))));
    var bar = el('span', 'bar');
    var fill = el('i');
    fill.style.width = Math.min(100, share(n.v)) + '%';
    bar.appendChild(fill);
    row.appendChild(bar);
    row.appendChild(el('span', 'tm', fmtTime(n.v)));
    row.appendChild(el('span', 'nm', name(n)));
    var l = loc(n);
    if (l) { var ls = el('span', 'loc', l); ls.title = fullLoc(n); row.appendChild(ls); }
    if (n.s > 0) row.appendChild(el('span', 'cnt', 'own ' + fmtTime(n.s)));
    var c = countText(n);
    if (c) row.appendChild(el('span', 'cnt', c));
    if (n.r) { var rb = el('span', 'recb', 'recursion'); rb.title = 'calls back into a function already on this path: not expanded'; row.appendChild(rb); }
    if (n.x) {
      var cb = el('span', 'cutb', 'calls below not shown');
      cb.title = n.x === 'depth' ? 'the tree stops at this depth: the time of the calls below is in this row' : 'the tree reached its node limit: the time of the calls not shown is in this row';
      row.appendChild(cb);
    }
    li.appendChild(row);
    if (has) {
      li.classList.add('has-children');
      row.addEventListener('click', function () { toggle(li); });
    }
    return li;
  }
  function open(li) {
    var n = li.dziuraNode;
    if (!li.querySelector(':scope > ul')) {
      var ul = el('ul');
      for (var i = 0; i < n.c.length; i++) ul.appendChild(treeItem(n.c[i]));
      li.appendChild(ul);
    }
    li.classList.add('open');
    li.querySelector(':scope > .row > .tg').textContent = '\u25be';
  }
  function close(li) {
    li.classList.remove('open');
    li.querySelector(':scope > .row > .tg').textContent = '\u25b8';
  }
  function toggle(li) { if (li.classList.contains('open')) close(li); else open(li); }
  function drawTree() {
    while (tree.firstChild) tree.removeChild(tree.firstChild);
    var ul = el('ul');
    var top = root.c || [];
    for (var i = 0; i < top.length; i++) ul.appendChild(treeItem(top[i]));
    if (!top.length) tree.appendChild(el('p', 'muted', 'Nothing was recorded.'));
    tree.appendChild(ul);
  }
  document.getElementById('collapse-all').addEventListener('click', drawTree);
  document.getElementById('expand-hot').addEventListener('click', function () {
    var ul = tree.querySelector(':scope > ul');
    var guard = 0;
    while (ul && ul.firstChild && guard++ < 200) {
      var li = ul.firstChild;
      if (!li.classList.contains('has-children')) break;
      open(li);
      ul = li.querySelector(':scope > ul');
    }
  });

  // ---- function table ----
  var table = document.getElementById('functions');
  var filter = document.getElementById('table-filter');
  var cols = [
    { key: 'name', label: 'function', text: function (f) { return f.name; }, sort: function (f) { return f.name.toLowerCase(); } },
    { key: 'loc', label: 'file:line', text: function (f) { return f.builtin ? '' : f.short + ':' + f.line; }, sort: function (f) { return f.builtin ? '\uffff' : (f.file + ':' + ('0000000000' + f.line).slice(-10)).toLowerCase(); } },
    { key: 'calls', label: sampled ? 'samples' : 'calls', text: function (f) { return f.calls === f.pcalls ? String(f.calls) : f.calls + '/' + f.pcalls; }, sort: function (f) { return f.calls; } },
    { key: 'own', label: 'own time', text: function (f) { return fmtTime(f.own); }, sort: function (f) { return f.own; } },
    { key: 'cum', label: 'cumulative', text: function (f) { return fmtTime(f.cum); }, sort: function (f) { return f.cum; } },
    { key: 'ownpct', label: 'own %', text: function (f) { return fmtPct(share(f.own)); }, sort: function (f) { return f.own; } }
  ];
  // Big profiles: the first rows in the current order; the filter reaches the rest.
  var MAX_ROWS = 2000;
  var sortCol = 3, sortDesc = true;
  var headRow = table.tHead.rows[0];
  cols.forEach(function (c, i) {
    var th = el('th', '', c.label);
    th.dataset.key = c.key;
    th.tabIndex = 0;
    function sortHere() {
      if (sortCol === i) sortDesc = !sortDesc;
      else { sortCol = i; sortDesc = i >= 2; }
      drawTable();
    }
    th.addEventListener('click', sortHere);
    th.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); sortHere(); } });
    headRow.appendChild(th);
  });
  function drawTable() {
    var c = cols[sortCol];
    var q = makeMatcher(filter.value);
    var rows = F.map(function (f, i) { return i; }).filter(function (i) {
      return !q || q(F[i].name) || q(F[i].file);
    });
    rows.sort(function (a, b) {
      var x = c.sort(F[a]), y = c.sort(F[b]);
      var r = x < y ? -1 : x > y ? 1 : a - b;
      return sortDesc ? -r : r;
    });
    var ths = headRow.cells;
    for (var k = 0; k < ths.length; k++) {
      if (k === sortCol) ths[k].setAttribute('aria-sort', sortDesc ? 'descending' : 'ascending');
      else ths[k].removeAttribute('aria-sort');
    }
    var body = document.createElement('tbody');
    var hidden = rows.length - MAX_ROWS;
    if (hidden > 0) rows = rows.slice(0, MAX_ROWS);
    rows.forEach(function (i) {
      var f = F[i];
      var tr = el('tr');
      cols.forEach(function (col, j) {
        var td = el('td', '', col.text(f));
        if (j === 1 && !f.builtin) td.title = f.file + ':' + f.line;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    if (hidden > 0) {
      var more = el('tr', 'more');
      var td = el('td', 'muted', hidden + ' more functions: filter or sort to see them');
      td.colSpan = cols.length;
      more.appendChild(td);
      body.appendChild(more);
    }
    table.replaceChild(body, table.tBodies[0]);
  }
  filter.addEventListener('input', drawTable);

  // ---- your code first ----
  // The user's functions ranked by the time they are responsible for (their own and that of
  // the library code they call); the full table of every function is one click away.
  var O = D.own;
  var ownView = document.getElementById('own-view');
  var allView = document.getElementById('all-view');
  function ownShare(v) { return O.total > 0 ? 100 * v / O.total : 0; }
  function drawOwn() {
    var note = document.getElementById('own-note');
    note.appendChild(el('b', '', 'Your code first: '));
    note.appendChild(document.createTextNode('each of your functions with the time spent in it and in the library, stdlib and built-in code it called (' + fmtTime(O.total) + (O.exact ? '' : ' sampled') + ' in all). The full table of every function is one click away: '));
    var all = el('button', '', 'Show all ' + F.length + ' functions');
    all.id = 'show-all';
    all.type = 'button';
    note.appendChild(all);
    var body = document.querySelector('#own-table tbody');
    O.rows.forEach(function (r) {
      var f = F[r.f];
      var tr = el('tr');
      tr.appendChild(el('td', '', f.name));
      var where = el('td', '', (r.path !== undefined ? r.path : f.file) + ':' + f.line);
      where.title = f.file + ':' + f.line;
      tr.appendChild(where);
      tr.appendChild(el('td', '', fmtTime(r.charged)));
      tr.appendChild(el('td', '', fmtPct(ownShare(r.charged))));
      tr.appendChild(el('td', '', fmtTime(r.total)));
      var mostly = '';
      if (r.mostly && r.charged > 0 && r.mostly[1] / r.charged >= 0.05) {
        var m = F[r.mostly[0]];
        mostly = Math.round(100 * r.mostly[1] / r.charged) + '% in ' + m.name + (m.builtin ? '' : ' (' + m.short + ':' + m.line + ')');
      }
      tr.appendChild(el('td', 'mostly', mostly));
      body.appendChild(tr);
    });
    if (!O.rows.length) {
      var none = el('tr');
      var td = el('td', 'muted', 'No frame of your code in this profile: every function is library, stdlib or built-in code.');
      td.colSpan = 6;
      none.appendChild(td);
      body.appendChild(none);
    }
    if (O.outside > 0) {
      var out = el('tr', 'outside');
      out.appendChild(el('td', '', 'outside your code'));
      out.appendChild(el('td', '', 'no frame of yours on the stack'));
      out.appendChild(el('td', '', fmtTime(O.outside)));
      out.appendChild(el('td', '', fmtPct(ownShare(O.outside))));
      out.appendChild(el('td', '', ''));
      out.appendChild(el('td', '', ''));
      body.appendChild(out);
    }
    all.addEventListener('click', function () { ownView.hidden = true; allView.hidden = false; });
    document.getElementById('show-own').addEventListener('click', function () { allView.hidden = true; ownView.hidden = false; });
  }

  // ---- source ----
  var sources = document.getElementById('sources');
  function drawSources() {
    if (!D.sources.length) {
      sources.appendChild(el('p', 'muted', 'No source: the hottest functions\u2019 files could not be read when the report was written.'));
      return;
    }
    D.sources.forEach(function (s) {
      var f = F[s.func];
      var h = el('h3', '', f.name + ' \u2014 ' + s.file + ':' + f.line + ' \u2014 own ' + fmtTime(f.own) + ' (' + fmtPct(share(f.own)) + ')');
      sources.appendChild(h);
      var counts = {};
      s.counts.forEach(function (c) { counts[c[0]] = c; });
      var box = el('div', 'src');
      var t = el('table');
      var body = el('tbody');
      s.lines.forEach(function (text, i) {
        var ln = s.start + i;
        var tr = el('tr');
        if (ln === f.line) tr.classList.add('def');
        if (s.hot !== null && ln === s.hot) tr.classList.add('hot');
        tr.appendChild(el('td', 'ln', ln));
        if (sampled) {
          var c = counts[ln];
          var td = el('td', 'n', c ? c[2] : '');
          if (c) td.title = c[1] + ' samples on top of the stack, ' + c[2] + ' on the stack';
          tr.appendChild(td);
        }
        tr.appendChild(el('td', 'code', text));
        body.appendChild(tr);
      });
      t.appendChild(body);
      box.appendChild(t);
      sources.appendChild(box);
    });
  }

  drawTree();
  drawOwn();
  drawTable();
  drawSources();
  drawFlame();
})();

// The outbox-relay operator console. Every value from the API is put in the page with textContent
// or as an attribute value (never parsed as HTML), and control characters are shown as escapes, so an
// event's subject, type, error or payload can neither run script nor change the layout.

(() => {
  const POLL_MS = 2000;
  const PAYLOAD_SHOWN = 4096;
  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem('outbox-console-token') || '',
    operator: localStorage.getItem('outbox-console-operator') || '',
    mutations: false,
    latestDead: null,
    // Each list: its filters, the page shown (cursor null: the first; dead events page by id, dead
    // letters by offset), the next page's cursor (null: none), the rows shown and the selection.
    dead: { filters: {}, cursor: null, next: null, page: 1, items: [], selected: new Set() },
    dlq: { filters: {}, cursor: null, next: null, page: 1, items: [], selected: new Set() },
    ticks: 0,
  };

  // C0 and C1 controls, DEL, line/paragraph separators and bidi controls: shown as \xNN / \uNNNN.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  const UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: as above, keeping newlines and tabs
  const UNSAFE_BLOCK = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  const escapeChar = (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  };
  const oneLine = (text) => String(text ?? '').replace(UNSAFE_LINE, escapeChar);
  const block = (text) => String(text ?? '').replace(UNSAFE_BLOCK, escapeChar);

  /** Builds an element; children that are strings become text nodes. */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const formatNumber = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en'));
  function formatDuration(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = s / 60;
    if (m < 60) return `${Math.floor(m)} min ${Math.round(s % 60)} s`;
    const h = m / 60;
    if (h < 48) return `${Math.floor(h)} h ${Math.round(m % 60)} min`;
    return `${Math.floor(h / 24)} d ${Math.round(h % 24)} h`;
  }
  function formatBytes(n) {
    if (n === null || n === undefined) return '–';
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
    return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  }
  const formatTime = (value) => {
    if (!value) return '–';
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? oneLine(value) : date.toLocaleString('en-GB', { hour12: false });
  };

  function setStatus(text, kind = 'info') {
    const status = $('status');
    status.textContent = text;
    status.className = `status ${kind}`;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(body?.error ? String(body.error) : `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(path, { method = 'GET', body } = {}) {
    const headers = { accept: 'application/json' };
    if (state.token) headers.authorization = `Bearer ${state.token}`;
    if (state.operator) headers['x-outbox-operator'] = state.operator;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`api/${path}`, {
      method,
      headers,
      credentials: 'omit',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  function fillBody(table, rows, emptyText, columns) {
    const tbody = table.tBodies[0];
    if (rows.length === 0) {
      tbody.replaceChildren(el('tr', {}, el('td', { colspan: columns, class: 'empty', text: emptyText })));
    } else {
      tbody.replaceChildren(...rows);
    }
  }

  // ---------- overview ----------

  async function refreshOverview() {
    let data;
    try {
      data = await api('overview');
    } catch (error) {
      if (error.status === 401) setStatus('This console needs its token to read: enter it above.', 'error');
      else setStatus(`Could not load the overview: ${oneLine(error.message)}`, 'error');
      return;
    }
    state.mutations = Boolean(data.mutations);
    for (const button of document.querySelectorAll('[data-mutation]')) {
      button.disabled = !state.mutations;
      button.title = state.mutations ? '' : 'Read-only: the relay was started without OUTBOX_CONSOLE_TOKEN';
    }
    const labels = data.labels || {};
    $('watching').textContent =
      `${labels.driver === 'pg' ? 'PostgreSQL' : 'MySQL/MariaDB'} table ${oneLine(labels.table)} → stream ${oneLine(labels.stream)}${state.mutations ? '' : ' · read-only'}`;
    const latest = data.latest || {};
    $('pending').textContent = formatNumber(latest.pending);
    $('oldest').textContent = formatDuration(latest.oldestPendingAgeMs);
    $('dead-count').textContent = formatNumber(latest.dead);
    $('rate').textContent =
      latest.publishedPerSecond === null || latest.publishedPerSecond === undefined ? '–' : `${formatNumber(latest.publishedPerSecond)}/s`;
    state.latestDead = latest.dead;
    $('updated').textContent = `updated ${new Date(data.now).toLocaleTimeString('en-GB', { hour12: false })}`;
    const problems = [data.samplerError, data.backlogError, data.waitingError].filter(Boolean);
    $('overview-error').hidden = problems.length === 0;
    $('overview-error').textContent = problems.map(oneLine).join(' · ');
    renderChart(data.history || []);
    renderSubjects(data);
    renderStream(data.stream || {}, data.dlq || {});
    if ($('status').classList.contains('error') && /overview|token to read/.test($('status').textContent)) setStatus('');
  }

  function renderChart(history) {
    const width = 640;
    const height = 160;
    const pad = { left: 44, right: 10, top: 12, bottom: 24 };
    const points = history.filter((s) => s.publishedPerSecond !== null);
    const max = Math.max(1, ...points.map((s) => s.publishedPerSecond));
    const t0 = history.length ? history[0].t : Date.now();
    const t1 = history.length ? history[history.length - 1].t : t0 + 1;
    const span = Math.max(1, t1 - t0);
    const x = (t) => pad.left + ((t - t0) / span) * (width - pad.left - pad.right);
    const y = (v) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    const attrs = (node, values) => {
      for (const [key, value] of Object.entries(values)) node.setAttribute(key, String(value));
      return node;
    };
    attrs(svg, { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', class: 'rate-chart' });
    const now = points.length ? points[points.length - 1].publishedPerSecond : null;
    const min = points.length ? Math.min(...points.map((s) => s.publishedPerSecond)) : null;
    const title = attrs(document.createElementNS(ns, 'title'), { id: 'chart-title' });
    title.textContent = `Publish rate over the last ${formatDuration(span)}`;
    const desc = attrs(document.createElementNS(ns, 'desc'), { id: 'chart-desc' });
    const summary = points.length
      ? `Messages stored in the stream per second: now ${now}, lowest ${min}, highest ${Math.max(...points.map((s) => s.publishedPerSecond))}, over ${points.length} samples.`
      : 'No rate yet: it needs two samples of the stream.';
    desc.textContent = summary;
    svg.append(title, desc);
    for (const fraction of [0, 0.5, 1]) {
      const gy = y(max * fraction);
      svg.append(attrs(document.createElementNS(ns, 'line'), { x1: pad.left, x2: width - pad.right, y1: gy, y2: gy, class: 'grid' }));
      const label = attrs(document.createElementNS(ns, 'text'), { x: pad.left - 6, y: gy + 4, 'text-anchor': 'end', class: 'axis' });
      label.textContent = `${Math.round(max * fraction * 10) / 10}`;
      svg.append(label);
    }
    const startLabel = attrs(document.createElementNS(ns, 'text'), { x: pad.left, y: height - 6, class: 'axis' });
    startLabel.textContent = `-${formatDuration(span)}`;
    const endLabel = attrs(document.createElementNS(ns, 'text'), {
      x: width - pad.right,
      y: height - 6,
      'text-anchor': 'end',
      class: 'axis',
    });
    endLabel.textContent = 'now';
    svg.append(startLabel, endLabel);
    if (points.length > 1) {
      const line = points.map((s) => `${x(s.t).toFixed(1)},${y(s.publishedPerSecond).toFixed(1)}`).join(' ');
      const area = `${x(points[0].t).toFixed(1)},${y(0)} ${line} ${x(points[points.length - 1].t).toFixed(1)},${y(0)}`;
      svg.append(attrs(document.createElementNS(ns, 'polygon'), { points: area, class: 'area' }));
      svg.append(attrs(document.createElementNS(ns, 'polyline'), { points: line, class: 'line' }));
    }
    $('chart').replaceChildren(svg);
    $('chart-caption').textContent = `${title.textContent} (messages/s). ${summary}`;
    const rows = history
      .slice(-30)
      .reverse()
      .map((s) =>
        el(
          'tr',
          {},
          el('td', { text: new Date(s.t).toLocaleTimeString('en-GB', { hour12: false }) }),
          el('td', { class: 'num', text: s.publishedPerSecond === null ? '–' : String(s.publishedPerSecond) }),
          el('td', { class: 'num', text: formatNumber(s.pending) }),
          el('td', { class: 'num', text: formatDuration(s.oldestPendingAgeMs) }),
        ),
      );
    fillBody($('chart-table'), rows, 'No samples yet.', 4);
  }

  function renderSubjects(data) {
    fillBody(
      $('backlog-table'),
      (data.backlog || []).map((row) =>
        el(
          'tr',
          {},
          el('td', { class: 'mono wrap', text: oneLine(row.subject) }),
          el('td', { class: 'num', text: formatNumber(row.pending) }),
          el('td', { class: 'num', text: formatDuration(row.oldestPendingAgeMs) }),
        ),
      ),
      'No backlog: every event is published.',
      3,
    );
    fillBody(
      $('waiting-table'),
      (data.waiting || []).map((row) =>
        el(
          'tr',
          {},
          el('td', { class: 'mono wrap', text: oneLine(row.subject) }),
          el(
            'td',
            {},
            el('span', {
              class: `badge ${row.state}`,
              text: row.state === 'dead' ? `dead${row.dead > 1 ? ` ×${row.dead}` : ''}` : 'retrying',
            }),
          ),
          el('td', { class: 'num', text: formatNumber(row.attempts) }),
          el('td', { text: row.since || row.state !== 'failed' ? formatTime(row.since) : `retry ${formatTime(row.retryAt)}` }),
          el('td', { class: 'wrap error-text', text: oneLine(row.error) }),
        ),
      ),
      'No subject is waiting on a failed or dead event.',
      5,
    );
  }

  function renderStream(stream, dlq) {
    if (stream.error) {
      $('stream-summary').textContent = `Stream ${oneLine(stream.name)}: ${oneLine(stream.error)}`;
    } else {
      $('stream-summary').textContent =
        `Stream ${oneLine(stream.name)}: ${formatNumber(stream.messages)} messages, ${formatBytes(stream.bytes)}, sequences ${formatNumber(stream.firstSeq)}–${formatNumber(stream.lastSeq)}.`;
    }
    fillBody(
      $('consumers-table'),
      (stream.consumers || []).map((c) =>
        el(
          'tr',
          {},
          el('td', { class: 'mono', text: oneLine(c.name) }),
          el('td', { class: 'num', text: formatNumber(c.pending) }),
          el('td', { class: 'num', text: formatNumber(c.ackPending) }),
          el('td', { class: 'num', text: formatNumber(c.redelivered) }),
        ),
      ),
      'No consumers.',
      4,
    );
    if (dlq.missing)
      $('dlq-summary').textContent = `Dead-letter stream ${oneLine(dlq.name)} does not exist (no consumer has dead-lettered yet).`;
    else if (dlq.error) $('dlq-summary').textContent = `Dead-letter stream ${oneLine(dlq.name)}: ${oneLine(dlq.error)}`;
    else
      $('dlq-summary').textContent =
        `Dead-letter stream ${oneLine(dlq.name)}: ${formatNumber(dlq.messages)} letters, ${formatBytes(dlq.bytes)}.`;
  }

  // ---------- outbox dead events ----------

  function previewCell(preview) {
    if (!preview) return el('td');
    const note = preview.truncated ? ` … (${formatBytes(preview.bytes)})` : '';
    return el(
      'td',
      { class: 'mono wrap preview' },
      oneLine(preview.text).slice(0, 160),
      note ? el('span', { class: 'muted', text: note }) : null,
    );
  }

  function selectBox(set, key, label) {
    return el('input', {
      type: 'checkbox',
      'aria-label': label,
      checked: set.has(key),
      onchange: (event) => {
        if (event.target.checked) set.add(key);
        else set.delete(key);
      },
    });
  }

  /** A row's last cell: the button that opens its detail. */
  function showCell(label, onclick) {
    return el('td', {}, el('button', { type: 'button', class: 'link', text: 'Show', 'aria-label': label, onclick }));
  }

  /**
   * Fetches and renders one page of a list (see `lists`): its rows with a checkbox each, the
   * selection kept to the rows still shown, and the paging controls.
   */
  async function refreshList(list) {
    const d = state[list.name];
    let data;
    try {
      data = await api(`${list.name}${query({ ...d.filters, ...list.pageQuery(d.cursor), limit: 25 })}`);
    } catch (error) {
      fillBody($(`${list.name}-table`), [], `Could not list ${list.nouns}: ${oneLine(error.message)}`, list.columns);
      return;
    }
    d.items = data.items;
    d.next = data.next ?? null;
    const present = new Set(d.items.map(list.key));
    for (const key of d.selected) if (!present.has(key)) d.selected.delete(key);
    fillBody(
      $(`${list.name}-table`),
      d.items.map((row) =>
        el(
          'tr',
          {},
          el('td', {}, selectBox(d.selected, list.key(row), `Select ${list.noun} ${list.key(row)}`)),
          ...list.cells(row),
          showCell(`Show ${list.noun} ${list.key(row)}`, () => showItem(list, list.key(row))),
        ),
      ),
      Object.keys(d.filters).length ? `No ${list.noun} matches the filters.` : `No ${list.nouns}.`,
      list.columns,
    );
    $(`${list.name}-select-page`).checked = d.items.length > 0 && d.items.every((row) => d.selected.has(list.key(row)));
    $(`${list.name}-next`).disabled = d.next === null;
    $(`${list.name}-first`).disabled = d.cursor === null;
    $(`${list.name}-page`).textContent = list.pageText(d, data);
  }

  function field(label, value, options = {}) {
    return el('div', { class: 'field' }, el('dt', { text: label }), el('dd', { class: options.mono ? 'mono wrap' : 'wrap', text: value }));
  }

  /** A long text: the first PAYLOAD_SHOWN characters, and a button to show it all. */
  function longText(label, text) {
    const full = block(text);
    const pre = el('pre', { class: 'payload', tabindex: '0', 'aria-label': label });
    pre.textContent = full.length > PAYLOAD_SHOWN ? full.slice(0, PAYLOAD_SHOWN) : full;
    const bytes = new TextEncoder().encode(String(text ?? '')).length;
    const wrap = el('div', { class: 'long' }, el('h3', { text: `${label} (${formatBytes(bytes)})` }), pre);
    if (full.length > PAYLOAD_SHOWN) {
      const more = el('button', {
        type: 'button',
        text: `Show all (${formatBytes(bytes)})`,
        onclick: () => {
          pre.textContent = full;
          more.remove();
        },
      });
      wrap.append(el('p', { class: 'muted', text: `Showing the first ${PAYLOAD_SHOWN.toLocaleString('en')} characters. ` }, more));
    }
    return wrap;
  }

  function headersTable(headers) {
    const entries = Object.entries(headers || {});
    if (entries.length === 0) return el('p', { class: 'muted', text: 'No headers.' });
    return el(
      'table',
      { class: 'headers' },
      el('caption', { text: 'Headers' }),
      el(
        'tbody',
        {},
        ...entries.map(([name, value]) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row', class: 'mono', text: oneLine(name) }),
            el('td', { class: 'mono wrap', text: oneLine(value) }),
          ),
        ),
      ),
    );
  }

  async function openDetail(title, build, actions) {
    $('detail-h').textContent = title;
    $('detail-body').replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
    $('detail-actions').replaceChildren();
    if (!$('detail').open) $('detail').showModal();
    try {
      $('detail-body').replaceChildren(...(await build()));
      $('detail-actions').replaceChildren(...actions);
    } catch (error) {
      $('detail-body').replaceChildren(el('p', { class: 'error', text: oneLine(error.message) }));
    }
  }

  /** The detail dialog of one row, with its two actions (retry or replay, and purge). */
  function showItem(list, key) {
    const actions = list.actions.map(({ action, one, danger }) =>
      el('button', {
        type: 'button',
        'data-mutation': true,
        class: danger ? 'danger' : undefined,
        disabled: !state.mutations,
        text: one,
        onclick: () => mutateList(list, action, [key]),
      }),
    );
    return openDetail(list.title(key), () => list.detail(key), actions);
  }

  // ---------- confirmation and mutations ----------

  function confirmAction(text, verb) {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = verb;
    return new Promise((resolve) => {
      const done = (answer) => {
        $('confirm-ok').onclick = null;
        $('confirm-cancel').onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      $('confirm-ok').onclick = () => done(true);
      $('confirm-cancel').onclick = () => done(false);
      dialog.onclose = () => done(false);
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }

  const plural = (n, word) => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;

  /**
   * Sends a mutation with the count the operator confirmed. For "all", the server is asked first
   * (confirm: -1 answers 409 with the real count), so the dialog shows the count it will touch.
   */
  async function mutate(path, selection, describe, verb) {
    let count = selection.all ? -1 : selection.items.length;
    if (!state.token) {
      setStatus('Enter the console token above first: every retry, purge and replay needs it.', 'error');
      return false;
    }
    if (selection.all) {
      try {
        await api(path, { method: 'POST', body: { ...selection.body, all: true, confirm: -1 } });
      } catch (error) {
        if (error.status !== 409) {
          setStatus(`${verb} refused: ${oneLine(error.message)}`, 'error');
          return false;
        }
        count = error.body.count;
      }
      if (!count) {
        setStatus(`Nothing to ${verb.toLowerCase()}.`, 'info');
        return false;
      }
    }
    if (!(await confirmAction(describe(count), verb))) {
      setStatus('Cancelled: nothing was changed.');
      return false;
    }
    try {
      const body = selection.all ? { ...selection.body, all: true, confirm: count } : { ...selection.body, confirm: count };
      const result = await api(path, { method: 'POST', body });
      const note = result.count < count ? ` (${count - result.count} were already gone)` : '';
      setStatus(`${verb}: ${result.count.toLocaleString('en')} done${note}.`, 'ok');
      return true;
    } catch (error) {
      setStatus(`${verb} refused: ${oneLine(error.message)}`, 'error');
      return false;
    } finally {
      refreshAll();
    }
  }

  /** Retries, replays or purges the given rows of a list, or every row (`'all'`), after the confirmation. */
  async function mutateList(list, action, keys) {
    const { verb, describe } = list.actions.find((entry) => entry.action === action);
    const selection = keys === 'all' ? { all: true, body: list.allBody() } : { items: keys, body: list.keysBody(keys) };
    const changed = await mutate(`${list.name}/${action}`, selection, describe, verb);
    if (changed) {
      state[list.name].selected.clear();
      if ($('detail').open) $('detail').close();
    }
  }

  // ---------- the two lists ----------

  /** What differs between the outbox's dead events and the consumers' dead letters. */
  const lists = {
    dead: {
      name: 'dead',
      noun: 'dead event',
      nouns: 'dead events',
      columns: 8,
      key: (row) => row.id,
      pageQuery: (cursor) => ({ after: cursor }),
      pageText: (d, data) => `page ${d.page}, ${d.items.length} shown${data.scanned > d.items.length ? ` (${data.scanned} scanned)` : ''}`,
      cells: (row) => [
        el('td', { text: formatTime(row.deadAt) }),
        el('td', { class: 'mono wrap', text: oneLine(row.subject) }),
        el('td', { class: 'mono wrap', text: oneLine(row.type) }),
        el('td', { class: 'num', text: formatNumber(row.attempts) }),
        el('td', { class: 'wrap error-text', text: oneLine(row.lastError.text).slice(0, 200) }),
        previewCell(row.payload),
      ],
      title: () => 'Dead event',
      async detail(id) {
        const row = await api(`dead/${encodeURIComponent(id)}`);
        return [
          el(
            'dl',
            { class: 'fields' },
            field('Id', oneLine(row.id), { mono: true }),
            field('Type', oneLine(row.type), { mono: true }),
            field('Source', oneLine(row.source), { mono: true }),
            field('Subject', oneLine(row.subject), { mono: true }),
            field('Time', oneLine(row.time)),
            field('Dead at', formatTime(row.deadAt)),
            field('Attempts', formatNumber(row.attempts)),
          ),
          longText('Last error', row.lastError),
          headersTable(row.headers),
          longText('Payload', row.payload),
        ];
      },
      keysBody: (ids) => ({ ids }),
      allBody: () => ({}),
      actions: [
        {
          action: 'retry',
          verb: 'Retry',
          one: 'Retry this event',
          describe: (n) =>
            `Retry ${plural(n, 'dead event')}? ${n === 1 ? 'It becomes pending again with its attempts reset, and a running relay publishes it.' : 'They become pending again with their attempts reset, and a running relay publishes them.'}`,
        },
        {
          action: 'purge',
          verb: 'Purge',
          one: 'Purge this event',
          danger: true,
          describe: (n) =>
            `Purge ${plural(n, 'dead event')} for good? ${n === 1 ? 'It is' : 'They are'} deleted from the outbox and never published.`,
        },
      ],
    },
    dlq: {
      name: 'dlq',
      noun: 'dead letter',
      nouns: 'dead letters',
      columns: 9,
      key: (row) => row.sequence,
      pageQuery: (cursor) => ({ offset: cursor ?? 0 }),
      pageText: (d) => (d.items.length ? `letters ${(d.cursor ?? 0) + 1}–${(d.cursor ?? 0) + d.items.length}` : ''),
      cells: (row) => [
        el('td', { class: 'num', text: String(row.sequence) }),
        el('td', { text: formatTime(row.deadAt) }),
        el('td', { class: 'mono', text: oneLine(row.consumer ?? '–') }),
        el('td', { class: 'mono', text: oneLine(row.code ?? '–') }),
        el('td', { class: 'mono wrap', text: oneLine(row.subject ?? '–') }),
        el('td', { class: 'mono wrap', text: oneLine(row.type ?? '–') }),
        el('td', { class: 'wrap error-text', text: oneLine(row.error.text).slice(0, 200) }),
      ],
      title: (sequence) => `Dead letter ${sequence}`,
      async detail(sequence) {
        const letter = await api(`dlq/${sequence}`);
        return [
          el(
            'dl',
            { class: 'fields' },
            field('Sequence', String(letter.sequence)),
            field('Event id', oneLine(letter.messageId ?? '–'), { mono: true }),
            field('Type', oneLine(letter.type ?? '–'), { mono: true }),
            field('Subject', oneLine(letter.subject ?? '–'), { mono: true }),
            field('Consumer', oneLine(letter.consumer ?? '–'), { mono: true }),
            field('Code', oneLine(letter.code ?? '–'), { mono: true }),
            field('Deliveries', formatNumber(letter.deliveryCount)),
            field('Dead at', formatTime(letter.deadAt)),
            field('NATS subject', oneLine(letter.originalSubject ?? '–'), { mono: true }),
          ),
          longText('Error', letter.error ?? ''),
          headersTable(letter.headers),
          longText('Data', letter.data),
        ];
      },
      keysBody: (sequences) => ({ sequences }),
      allBody: () => ({ filters: state.dlq.filters }),
      actions: [
        {
          action: 'replay',
          verb: 'Replay',
          one: 'Replay this letter',
          describe: (n) =>
            `Replay ${plural(n, 'dead letter')} to the consumer that dead-lettered each? A replay is stored after newer events of its subject.`,
        },
        {
          action: 'purge',
          verb: 'Purge',
          one: 'Purge this letter',
          danger: true,
          describe: (n) => `Purge ${plural(n, 'dead letter')} for good?`,
        },
      ],
    },
  };

  // ---------- wiring ----------

  function formFilters(form) {
    const filters = {};
    for (const [key, value] of new FormData(form)) if (String(value).trim() !== '') filters[key] = String(value).trim();
    return filters;
  }

  async function refreshAll() {
    await Promise.all([refreshOverview(), refreshList(lists.dead), refreshList(lists.dlq)]);
  }

  /** The filter form, paging, page selection and bulk buttons of a list. */
  function wireList(list) {
    const d = state[list.name];
    const refresh = () => refreshList(list);
    const firstPage = (filters) => {
      Object.assign(d, { filters, cursor: null, page: 1 });
      d.selected.clear();
    };
    $(`${list.name}-filter`).addEventListener('submit', (event) => {
      event.preventDefault();
      firstPage(formFilters(event.target));
      refresh();
    });
    $(`${list.name}-filter`).addEventListener('reset', () => {
      firstPage({});
      setTimeout(refresh);
    });
    $(`${list.name}-next`).addEventListener('click', () => {
      if (d.next === null) return;
      Object.assign(d, { cursor: d.next, page: d.page + 1 });
      refresh();
    });
    $(`${list.name}-first`).addEventListener('click', () => {
      Object.assign(d, { cursor: null, page: 1 });
      refresh();
    });
    $(`${list.name}-select-page`).addEventListener('change', (event) => {
      for (const row of d.items) event.target.checked ? d.selected.add(list.key(row)) : d.selected.delete(list.key(row));
      refresh();
    });
    for (const { action } of list.actions) {
      $(`${list.name}-${action}-selected`).addEventListener('click', () => {
        if (d.selected.size === 0) setStatus(`Select ${list.nouns} first (the checkboxes in the table).`, 'error');
        else mutateList(list, action, [...d.selected]);
      });
      $(`${list.name}-${action}-all`).addEventListener('click', () => mutateList(list, action, 'all'));
    }
  }

  function wire() {
    $('token').value = state.token;
    $('operator').value = state.operator;
    $('session').addEventListener('submit', (event) => {
      event.preventDefault();
      state.token = $('token').value.trim();
      state.operator = $('operator')
        .value.replace(/[^A-Za-z0-9 ._@-]/g, '')
        .slice(0, 64);
      $('operator').value = state.operator;
      sessionStorage.setItem('outbox-console-token', state.token);
      localStorage.setItem('outbox-console-operator', state.operator);
      setStatus(state.token ? 'Token set for this tab.' : 'Token cleared.', 'ok');
      refreshAll();
    });
    for (const list of Object.values(lists)) wireList(list);
    $('detail-close').addEventListener('click', () => $('detail').close());
  }

  async function loop() {
    // The overview every tick; the lists every third, unless a dialog is open (the operator is reading).
    // Nor while the keyboard focus is in a list: rebuilding its rows would lose the focus.
    const busy = $('detail').open || $('confirm').open || ['dead-table', 'dlq-table'].some((id) => $(id).contains(document.activeElement));
    const work = [refreshOverview()];
    if (state.ticks % 3 === 0 && !busy) work.push(refreshList(lists.dead), refreshList(lists.dlq));
    state.ticks++;
    await Promise.allSettled(work);
    setTimeout(loop, POLL_MS);
  }

  wire();
  loop();
})();

/**
 * psql's and pg_restore's stderr as it goes into an error message (and so into a workflow
 * history and the logs), without the lines that quote row values: the server's `DETAIL`
 * (`Key (id)=(…) already exists`, `Failing row contains (…)`), `CONTEXT` (`COPY t, line 2: "…"`)
 * and the statement excerpt (`LINE n: …` and its `^` marker). The `ERROR` lines stay, with the value
 * a data exception quotes (`invalid input syntax for type integer: "…"`) replaced by `"…"`.
 */
const ROW_LINE = /^(?:psql:[^\n]*?:\d+: )?(?:pg_restore: )?(?:DETAIL|CONTEXT|LINE \d+):/;

export function stderrWithoutRowValues(stderr: string): string {
  const out: string[] = [];
  let dropping = false;
  for (const line of stderr.split('\n')) {
    if (ROW_LINE.test(line.trimStart())) {
      dropping = true;
      continue;
    }
    // A dropped line's continuation (a multi-line DETAIL, the `^` under a LINE excerpt) is indented.
    if (dropping && /^\s/.test(line)) continue;
    dropping = false;
    // Data exceptions quote the value in the message itself: `…for type integer: "…"`, `value "…" is out of range…`.
    out.push(line.replace(/(ERROR: .*?: )"[\s\S]*"$/, '$1"…"').replace(/(ERROR: +value )"[\s\S]*"( is out of range)/, '$1"…"$2'));
  }
  const text = out.join('\n').trim();
  return text === stderr.trim() ? text : `${text}\n(details that may quote row values left out; the server's log has them)`;
}

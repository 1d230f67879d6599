/**
 * Runs a local Redis topology until Ctrl-C or SIGTERM: prints the settings that name it
 * (stdout) and a note (stderr) once it is up, and stops every process of it on the signal.
 */
export function runUntilSignal<T extends { stop(): Promise<void> }>(
  starting: Promise<T>, what: string, settings: (t: T) => string, note: (t: T) => string,
): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    // a terminal's Ctrl-C reaches npm and tsx too, which pass it on: the same signal may come twice
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping ${what}\n`);
    starting
      .then((t) => t.stop(), () => {})
      .then(() => process.exit(0), (err: Error) => { console.error(err); process.exit(1); });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  starting.then((t) => {
    if (stopping) return;
    console.log(settings(t));
    process.stderr.write(`${note(t)}; Ctrl-C stops them\n`);
    // the redis-server children would keep the process alive too, but not if one dies on its own
    setInterval(() => {}, 1 << 30);
  }, (err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}

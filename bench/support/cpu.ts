/**
 * CPU time from /proc (proc(5)): this process's reaped children, and a server's process tree.
 * Linux only, like the benchmarks' peak-RSS sampling.
 */
import fs from 'node:fs/promises';

/** USER_HZ, the unit of the CPU times in /proc/<pid>/stat: 100 on every Linux Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
// Indexes into procStat's fields (proc(5) numbers them from 1, with pid and comm first).
export const PPID = 1;
const [UTIME, STIME, CUTIME, CSTIME] = [11, 12, 13, 14];

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces); undefined once it has exited. */
export async function procStat(pid: number | 'self'): Promise<string[] | undefined> {
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text?.slice(text.lastIndexOf(')') + 2).split(' ');
}

const cpuSecondsOf = (fields: string[], ...indexes: number[]) =>
  indexes.reduce((sum, index) => sum + Number(fields[index]), 0) / CLOCK_TICKS_PER_SECOND;

/** CPU seconds of the children this process has waited for: the kernel adds a child's whole time when it is reaped. */
export async function reapedChildrenCpuSeconds(): Promise<number> {
  return cpuSecondsOf((await procStat('self'))!, CUTIME, CSTIME);
}

/** CPU seconds (user + system, every thread) of this process so far. */
export function ownCpuSeconds(): Promise<number> {
  const { user, system } = process.cpuUsage();
  return Promise.resolve((user + system) / 1e6);
}

/** CPU seconds of a server's process tree: the parent, the children it has reaped, and those still running. */
export async function processTreeCpuSeconds(pid: number): Promise<number | undefined> {
  const parent = await procStat(pid);
  if (!parent) return undefined;
  let total = cpuSecondsOf(parent, UTIME, STIME, CUTIME, CSTIME);
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = await procStat(Number(entry));
    if (fields?.[PPID] === String(pid)) total += cpuSecondsOf(fields, UTIME, STIME);
  }
  return total;
}

/** Peak resident memory (VmHWM) of a running process in kB; 0 once it has exited. */
export async function peakRssKb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

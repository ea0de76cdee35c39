/** What a driver knows about its nginx's process (child process or container). */
export interface NginxProcessState {
  running: boolean;
  pid: number | null;
  restarts: number;
  lastError: string | null;
}

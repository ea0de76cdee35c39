import { isoTime, type Clock } from '../util/clock.js';

export type EventKind = 'reconcile' | 'reload' | 'config' | 'runtime' | 'probe' | 'integrity' | 'pin';

export interface DaemonEvent {
  time: string;
  kind: EventKind;
  level: 'info' | 'warn' | 'error';
  vhost: string | null;
  message: string;
}

/** The last N things that happened, for operators reading after "it broke". Bounded memory. */
export interface EventLog {
  record(event: Omit<DaemonEvent, 'time'>): void;
  list(limit?: number): DaemonEvent[];
}

export function createEventLog(clock: Clock, capacity = 200): EventLog {
  const events: DaemonEvent[] = [];
  return {
    record(event) {
      events.push({ time: isoTime(clock.now()), ...event });
      if (events.length > capacity) events.splice(0, events.length - capacity);
    },
    list(limit = capacity) {
      return events.slice(-limit).reverse();
    },
  };
}

/**
 * The daemon's event bus: engine services publish container, image,
 * network and volume events; GET /events subscribers receive them. The last
 * events are kept so `since` can replay them, as dockerd does (256 of them).
 */
import { nowNanos } from "../common/time.ts";

export type EventType = "container" | "image" | "network" | "volume" | "daemon" | "plugin";

/** Docker's events.Message (the legacy status/id/from fields are added by the API). */
export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  /** Unix seconds. */
  time: number;
  /** Unix nanoseconds. */
  timeNano: number;
}

export interface PublishedEvent {
  type: EventType;
  action: string;
  id: string;
  attributes?: Record<string, string>;
}

export type EventListener = (event: EngineEvent) => void;

const KEEP = 256;

export class EventBus {
  private listeners = new Set<EventListener>();
  /** The engine's own listeners (exec, health monitors): not API subscribers, so not in subscriberCount. */
  private observers = new Set<EventListener>();
  private recent: EngineEvent[] = [];

  /** Stamps the event with the time and delivers it to every subscriber. */
  publish(ev: PublishedEvent): EngineEvent {
    const nanos = nowNanos();
    const ms = Number(nanos / 1_000_000n);
    const event: EngineEvent = {
      Type: ev.type,
      Action: ev.action,
      Actor: { ID: ev.id, Attributes: { ...ev.attributes } },
      scope: "local",
      time: Math.floor(ms / 1000),
      timeNano: Number(nanos),
    };
    this.recent.push(event);
    if (this.recent.length > KEEP) this.recent.shift();
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // a subscriber's failure is its own; the others still get the event
      }
    }
    return event;
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Like subscribe, for listeners inside the daemon: /info's NEventsListener does not count them. */
  observe(listener: EventListener): () => void {
    this.observers.add(listener);
    const unsubscribe = this.subscribe(listener);
    return () => {
      this.observers.delete(listener);
      unsubscribe();
    };
  }

  /** The kept events at or after `sinceNano` (unix nanoseconds). */
  since(sinceNano: bigint): EngineEvent[] {
    return this.recent.filter((e) => BigInt(e.timeNano) >= sinceNano);
  }

  get subscriberCount(): number {
    return this.listeners.size - this.observers.size;
  }
}

// Raft timing profiles. The raft core counts ticks, not milliseconds, so a profile is a tick length plus tick
// counts; the core randomises each election timeout in [electionTick, 2 * electionTick) ticks, which gives the
// millisecond ranges the design names (heartbeat / election): fast 30 / 100–200 ms for loopback tests,
// balanced 100 / 500–1000 ms (default), conservative 500 / 1500–3000 ms for WAN links and relays.

/** Name of a raft timing profile as written in config.toml (`raft.profile`). */
export type RaftProfileName = 'fast' | 'balanced' | 'conservative'

/** Tick-based raft timing handed to the raft core. */
export interface RaftTiming {
  /** Wall-clock length of one tick in milliseconds (the driver calls `tick()` this often). */
  readonly tickMs: number
  /** Ticks between leader heartbeats. */
  readonly heartbeatTick: number
  /** Minimum election timeout in ticks; the core draws from [electionTick, 2 * electionTick). */
  readonly electionTick: number
}

/** The profiles by name; frozen so no caller can retune another node's timing by accident. */
export const RAFT_PROFILES: Readonly<Record<RaftProfileName, RaftTiming>> = Object.freeze({
  fast: Object.freeze({ tickMs: 10, heartbeatTick: 3, electionTick: 10 }),
  balanced: Object.freeze({ tickMs: 50, heartbeatTick: 2, electionTick: 10 }),
  conservative: Object.freeze({ tickMs: 250, heartbeatTick: 2, electionTick: 6 })
})

/** The profile used when config.toml does not name one. */
export const DEFAULT_RAFT_PROFILE: RaftProfileName = 'balanced'

/** All profile names, in order from fastest to slowest. */
export const RAFT_PROFILE_NAMES: readonly RaftProfileName[] = Object.freeze(['fast', 'balanced', 'conservative'])

/** True when `name` is one of the known profile names. */
export function isRaftProfileName (name: string): name is RaftProfileName {
  return (RAFT_PROFILE_NAMES as readonly string[]).includes(name)
}

/** The tick-based timing of a profile. */
export function profileTiming (name: RaftProfileName): RaftTiming {
  return RAFT_PROFILES[name]
}

/** Heartbeat interval of a timing in milliseconds. */
export function heartbeatMs (timing: RaftTiming): number {
  return timing.tickMs * timing.heartbeatTick
}

/** Election timeout range of a timing in milliseconds: [minMs, maxMs), matching the core's randomisation. */
export function electionRangeMs (timing: RaftTiming): { minMs: number, maxMs: number } {
  return { minMs: timing.tickMs * timing.electionTick, maxMs: timing.tickMs * timing.electionTick * 2 }
}

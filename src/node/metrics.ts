// Prometheus metrics of one node. A registry per node (not the global one) so tests can run several nodes
// in one process without name clashes.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The metrics a node exports on /metrics. */
export interface NodeMetrics {
  registry: Registry
  term: Gauge
  isLeader: Gauge
  commitIndex: Gauge
  appliedIndex: Gauge
  applyLag: Gauge
  proposals: Counter<'result'>
  reads: Counter<'path'>
  fsyncSeconds: Histogram
  applySeconds: Histogram
  readyBatchEntries: Histogram
  requests: Counter<'method' | 'code'>
  p2pFramesIn: Gauge
  p2pFramesOut: Gauge
  p2pDrops: Gauge
  p2pDecodeErrors: Gauge
  discoveryPeers: Gauge
  snapshotsSent: Counter
  snapshotsInstalled: Counter
  /** Raft messages and snapshots refused because their peer may not speak for the node they claim. */
  raftRejectedPeer: Counter
  dataBytes: Gauge
  quotaBytes: Gauge
  diskFreeBytes: Gauge
  alarmActive: Gauge<'type'>
}

/** Creates a node's metrics in a fresh registry (default process metrics included). */
export function createNodeMetrics (): NodeMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'aspen_process_' })
  const r = [registry]
  return {
    registry,
    term: new Gauge({ name: 'aspen_raft_term', help: 'Current Raft term', registers: r }),
    isLeader: new Gauge({ name: 'aspen_raft_is_leader', help: '1 if this node is the leader', registers: r }),
    commitIndex: new Gauge({ name: 'aspen_raft_commit_index', help: 'Raft commit index', registers: r }),
    appliedIndex: new Gauge({ name: 'aspen_raft_applied_index', help: 'Index applied to the state machine', registers: r }),
    applyLag: new Gauge({ name: 'aspen_raft_apply_lag', help: 'commit - applied', registers: r }),
    proposals: new Counter({ name: 'aspen_raft_proposals_total', help: 'Proposals by result', labelNames: ['result'], registers: r }),
    reads: new Counter({ name: 'aspen_reads_total', help: 'Reads served, by how they were confirmed: readIndex (a quorum round), lease (the leader lease) or local (stale)', labelNames: ['path'], registers: r }),
    fsyncSeconds: new Histogram({ name: 'aspen_store_fsync_seconds', help: 'Duration of the synced batch per Ready', buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5], registers: r }),
    applySeconds: new Histogram({ name: 'aspen_store_apply_seconds', help: 'Time from proposal to apply on the leader', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1], registers: r }),
    readyBatchEntries: new Histogram({ name: 'aspen_raft_ready_entries', help: 'Entries persisted per Ready (group commit size)', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers: r }),
    requests: new Counter({ name: 'aspen_client_requests_total', help: 'Client requests by method and result code', labelNames: ['method', 'code'], registers: r }),
    p2pFramesIn: new Gauge({ name: 'aspen_p2p_frames_in', help: 'Raft frames received', registers: r }),
    p2pFramesOut: new Gauge({ name: 'aspen_p2p_frames_out', help: 'Raft frames sent', registers: r }),
    p2pDrops: new Gauge({ name: 'aspen_p2p_dropped_messages', help: 'Raft messages dropped by back-pressure', registers: r }),
    p2pDecodeErrors: new Gauge({ name: 'aspen_p2p_decode_errors', help: 'Undecodable or oversized frames', registers: r }),
    discoveryPeers: new Gauge({ name: 'aspen_discovery_peers', help: 'Peers known from cookie discovery', registers: r }),
    snapshotsSent: new Counter({ name: 'aspen_snapshots_sent_total', help: 'Snapshots streamed to followers', registers: r }),
    snapshotsInstalled: new Counter({ name: 'aspen_snapshots_installed_total', help: 'Snapshots installed from the leader', registers: r }),
    raftRejectedPeer: new Counter({ name: 'aspen_raft_rejected_peer_total', help: 'Raft messages and snapshots from peers that may not speak for the node they claim', registers: r }),
    dataBytes: new Gauge({ name: 'aspen_store_data_bytes', help: 'Bytes of DATA_DIR/raft as last measured by the quota check', registers: r }),
    quotaBytes: new Gauge({ name: 'aspen_store_quota_bytes', help: 'quota_bytes: above it the node raises the NOSPACE alarm', registers: r }),
    diskFreeBytes: new Gauge({ name: 'aspen_store_disk_free_bytes', help: 'Free bytes on the device holding the data dir', registers: r }),
    alarmActive: new Gauge({ name: 'aspen_alarm_active', help: '1 while an alarm of this type is active anywhere in the cluster (NOSPACE: writes are refused)', labelNames: ['type'], registers: r })
  }
}

// The relay's forwarding under overload: a send queue whose buffer pool is exhausted drops the datagram
// (counted) instead of throwing out of the receive loop (which used to stop the relay for good).
import { describe, expect, it } from 'vitest';
import { BufferPool, BufferPoolError } from '@postern/bufferpool';
import type { SendQueue, SocketAddr } from '@postern/socket-factory';
import { renderMetrics } from '../../src/metrics';
import { pushChannelDataOrDrop, pushOrDrop } from '../../src/relay';

const dst: SocketAddr = { family: 4, address: '198.18.16.3', port: 3490, key: '198.18.16.3:3490' };

/** A send queue over a real BufferPool of `max` buffers that never drains (a socket that takes nothing). */
function stuckQueue(max: number): SendQueue & { sent: Uint8Array[] } {
  const pool = new BufferPool({ bufferSize: 2048, slabBuffers: 1, maxBuffers: max });
  const sent: Uint8Array[] = [];
  let open: { buf: Uint8Array; max: number } | undefined;
  return {
    sent,
    pending: 0,
    reserve(_dst: SocketAddr, maxLen: number): Uint8Array {
      const buf = pool.acquire();
      open = { buf, max: maxLen };
      return buf.subarray(0, maxLen);
    },
    commit(len: number): void {
      if (open) sent.push(open.buf.slice(0, len));
      open = undefined;
    },
    push(d: SocketAddr, data: Uint8Array): void {
      this.reserve(d, data.length).set(data);
      this.commit(data.length);
    },
    flush: () => 0,
  };
}

describe('relay forwarding when a send queue is full', () => {
  it('pushOrDrop queues until the pool is exhausted, then drops without throwing', () => {
    const q = stuckQueue(3);
    const results = [1, 2, 3, 4, 5].map((i) => pushOrDrop(q, dst, new Uint8Array([i])));
    expect(results).toEqual([true, true, true, false, false]);
    expect(q.sent.map((b) => b[0])).toEqual([1, 2, 3]);
  });

  it('pushChannelDataOrDrop frames ChannelData in place and drops when full', () => {
    const q = stuckQueue(1);
    expect(pushChannelDataOrDrop(q, dst, 0x4001, new Uint8Array([0xaa, 0xbb]))).toBe(true);
    expect([...(q.sent[0] ?? [])]).toEqual([0x40, 0x01, 0x00, 0x02, 0xaa, 0xbb]);
    expect(pushChannelDataOrDrop(q, dst, 0x4001, new Uint8Array([1]))).toBe(false);
  });

  it('other errors still throw', () => {
    const q = stuckQueue(1);
    q.push = () => {
      throw new BufferPoolError('RING_FULL', 'not a pool exhaustion');
    };
    expect(() => pushOrDrop(q, dst, new Uint8Array(1))).toThrow(/not a pool exhaustion/);
  });

  it('exposes the drops in /metrics', () => {
    const m = { allocations: 0, channels: 0, permissions: 0, allocationsCreated: 0, allocationsFreed: 0, authFailures: 0, requests: 0, errorResponses: 0, packetsClientToPeer: 0, bytesClientToPeer: 0, packetsPeerToClient: 0, bytesPeerToClient: 0, packetsDropped: 0 };
    expect(renderMetrics(m, { sendQueueDrops: 7 })).toContain('postern_relay_send_queue_dropped_packets_total 7\n');
  });
});

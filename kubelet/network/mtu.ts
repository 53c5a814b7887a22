// The MTU of the link that holds an address, from the kernel over netlink (`ip -j addr`; sysfs
// would show the mount's network namespace, not the agent's, under `nsenter --net`), for sizing
// the overlay: a VXLAN packet carries 50 bytes of headers inside the underlay's MTU.
import { execFileSync } from 'node:child_process';
import { systemTool } from './cni.js';

const DEFAULT_MTU = 1500;

export function underlayMTU(address: string): number {
  try {
    const links = JSON.parse(execFileSync(systemTool('ip'), ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as { ifname?: string; mtu?: number; addr_info?: { local?: string }[] }[];
    const link = links.find((l) => (l.addr_info ?? []).some((a) => a.local === address));
    // Loopback (a test node on 127.0.0.1) has a 64 KiB MTU no real link carries.
    if (link?.mtu && link.ifname !== 'lo' && link.mtu >= 1280) return Math.min(link.mtu, 9000);
  } catch {
    /* no ip command: the common default */
  }
  return DEFAULT_MTU;
}

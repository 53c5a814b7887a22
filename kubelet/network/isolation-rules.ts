// The nftables table that keeps Networks apart on a node. Every network's pods share the node's
// routing table (one bridge per network, the node routes between them), so without these rules
// any pod could reach any other network through its gateway. Forwarded traffic from one network's
// subnet to another's is dropped (each network gets its own rule, which covers both directions);
// an internal network talks to nothing outside its subnet; other extra networks leave the node
// masqueraded. The whole table is replaced in one `nft -f` transaction.
import type { IsolatedSubnet } from './networks-plan.js';

export const DEFAULT_ISOLATION_TABLE = 'skiff-isolation';

const TABLE_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function checkTableName(table: string): void {
  if (!TABLE_RE.test(table)) throw new Error(`invalid nftables table name ${JSON.stringify(table)}`);
}

/**
 * The script that replaces the table: declaring it first makes the delete safe when it does not
 * exist yet. Subnets must not overlap (planNodeNetworks leaves overlapping ones out): an interval
 * set refuses them.
 */
export function buildIsolationRuleset(table: string, subnets: IsolatedSubnet[]): string {
  checkTableName(table);
  const lines = [`table ip ${table} {}`, `delete table ip ${table}`, `table ip ${table} {`];
  if (subnets.length) {
    lines.push(`  set networks {`, `    type ipv4_addr; flags interval;`, `    elements = { ${subnets.map((s) => s.subnet).join(', ')} }`, `  }`);
  }
  // Ahead of the usual filter priority, so another table's accept never lets a leak through first.
  lines.push(`  chain forward {`, `    type filter hook forward priority filter - 10; policy accept;`);
  for (const s of subnets) {
    if (s.internal) {
      lines.push(`    ip saddr ${s.subnet} ip daddr != ${s.subnet} drop`);
      lines.push(`    ip daddr ${s.subnet} ip saddr != ${s.subnet} drop`);
    } else {
      lines.push(`    ip saddr ${s.subnet} ip daddr != ${s.subnet} ip daddr @networks drop`);
    }
  }
  lines.push(`  }`);
  const masq = subnets.filter((s) => s.masquerade && !s.internal);
  if (masq.length) {
    lines.push(`  chain postrouting {`, `    type nat hook postrouting priority srcnat; policy accept;`);
    for (const s of masq) lines.push(`    ip saddr ${s.subnet} ip daddr != @networks ip daddr != 224.0.0.0/4 masquerade`);
    lines.push(`  }`);
  }
  lines.push(`}`, '');
  return lines.join('\n');
}

export function removeTableScript(table: string): string {
  checkTableName(table);
  return `table ip ${table} {}\ndelete table ip ${table}\n`;
}

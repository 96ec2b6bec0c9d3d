// Namespaces for remote-access labs. Road warriors on one gateway: a gateway namespace with a
// bridge holding the gateway's outer address (and an inner host address on lo), and one
// namespace per warrior joined to the bridge by a veth (each charon needs a namespace of its
// own: it binds the IKE ports on the wildcard). And one client facing one gateway.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { delNs, ip } from '../../src/io/netns.js';
import { until } from './wait.js';

export interface BridgeLabOptions {
  /** Namespace name prefix; names end in `-<tag>`. */
  prefix: string;
  tag: string;
  /** The gateway's outer address (a /24 on the bridge) and its inner host address (on lo). */
  gw: string;
  gwHost: string;
  warriors: number[];
  /** Warrior i's outer address, in the gateway's /24. */
  outer: (i: number) => string;
}

export interface BridgeLab {
  gwNs: string;
  nsOf(i: number): string;
  /** Delete every namespace made (also the ones of a half-built lab). */
  remove(): void;
}

/** Build the lab and wait until every warrior reaches the gateway over the bridge. */
export async function createBridgeLab(o: BridgeLabOptions): Promise<BridgeLab> {
  const gwNs = `${o.prefix}g-${o.tag}`;
  const nsOf = (i: number) => `${o.prefix}${i}-${o.tag}`;
  const made: string[] = [];
  const lab: BridgeLab = { gwNs, nsOf, remove: () => made.forEach(delNs) };
  try {
    ip(['netns', 'add', gwNs]);
    made.push(gwNs);
    ip(['link', 'set', 'lo', 'up'], gwNs);
    ip(['link', 'add', 'br0', 'type', 'bridge'], gwNs);
    ip(['addr', 'add', `${o.gw}/24`, 'dev', 'br0'], gwNs);
    ip(['link', 'set', 'br0', 'up'], gwNs);
    ip(['addr', 'add', `${o.gwHost}/32`, 'dev', 'lo'], gwNs);
    for (const i of o.warriors) {
      ip(['netns', 'add', nsOf(i)]);
      made.push(nsOf(i));
      const veth = `ve${i}`; // made inside the gateway's namespace: no clash with other labs
      ip(['link', 'add', veth, 'netns', gwNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsOf(i)]);
      ip(['link', 'set', veth, 'master', 'br0', 'up'], gwNs);
      ip(['link', 'set', 'lo', 'up'], nsOf(i));
      ip(['link', 'set', 'eth0', 'up'], nsOf(i));
      ip(['addr', 'add', `${o.outer(i)}/24`, 'dev', 'eth0'], nsOf(i));
    }
    for (const i of o.warriors) {
      const reaches = () => spawnSync('ip', ['netns', 'exec', nsOf(i), 'ping', '-c', '1', '-W', '1', o.gw]).status === 0;
      await until(reaches, { timeout: 10_000, interval: 200, what: `warrior ${i} reaching ${o.gw} over the bridge` });
    }
  } catch (e) {
    lab.remove();
    throw e;
  }
  return lab;
}

export interface ClientGatewayLabOptions {
  prefix: string;
  tag: string;
  /** The gateway's and the client's outer addresses (one /24 on a veth between them) and the gateway's inner host address (on lo). */
  gw: string;
  client: string;
  gwHost: string;
  /** The client's own /etc/resolv.conf (`ip netns exec` mounts /etc/netns/<ns>/resolv.conf over it), so DNS from the tunnel never touches the host's. */
  resolvConf: string;
}

export interface ClientGatewayLab {
  gwNs: string;
  clientNs: string;
  /** The client's resolv.conf as the host sees it. */
  resolvConfPath: string;
  remove(): void;
}

/** A gateway namespace and a client namespace joined by one veth. */
export function createClientGatewayLab(o: ClientGatewayLabOptions): ClientGatewayLab {
  const gwNs = `${o.prefix}sg-${o.tag}`;
  const clientNs = `${o.prefix}cl-${o.tag}`;
  const etc = `/etc/netns/${clientNs}`;
  const lab: ClientGatewayLab = {
    gwNs,
    clientNs,
    resolvConfPath: `${etc}/resolv.conf`,
    remove: () => {
      delNs(gwNs);
      delNs(clientNs);
      rmSync(etc, { recursive: true, force: true });
    },
  };
  try {
    for (const n of [gwNs, clientNs]) {
      ip(['netns', 'add', n]);
      ip(['link', 'set', 'lo', 'up'], n);
    }
    ip(['link', 'add', 'eth0', 'netns', gwNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs]);
    ip(['addr', 'add', `${o.gw}/24`, 'dev', 'eth0'], gwNs);
    ip(['addr', 'add', `${o.client}/24`, 'dev', 'eth0'], clientNs);
    for (const n of [gwNs, clientNs]) ip(['link', 'set', 'eth0', 'up'], n);
    ip(['addr', 'add', `${o.gwHost}/32`, 'dev', 'lo'], gwNs);
    mkdirSync(etc, { recursive: true });
    writeFileSync(lab.resolvConfPath, o.resolvConf);
  } catch (e) {
    lab.remove();
    throw e;
  }
  return lab;
}

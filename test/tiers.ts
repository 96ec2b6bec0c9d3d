// The three test tiers (CONTRIBUTING.md says which to run when). Every test file belongs to
// exactly one; test/tiers.test.ts fails when a file is in none or in two.
export const TIERS = {
  /** No root, no network namespaces, no strongSwan: vectors, codecs, the state machine step by step, in-memory datapath and daemon. */
  unit: [
    'test/!(fuzz).test.ts',
    'test/{wire,crypto,ike,ipsec,config,cli}/**/*.test.ts',
    'test/daemon/{client-vips,control,datapath,effects,event-lines,event-log,failure-history,line-writer,log,metrics,metrics-file,metrics-http,natt-demux,observe,path-mtu,path-mtu-watch,probe,roaming,route-source,udp-io,sa-spec,save-keys,spi-hold,status,timers,traffic-check,transport-datapath,wireshark-tables}.test.ts',
    'test/io/{sd-notify,route-plan,resolv-conf,kill-switch-rules,tun-offload}.test.ts',
    'test/interop/{expect,wait}.test.ts',
  ],
  /** Root: TUN devices, sockets and network namespaces, tsvpn against tsvpn. */
  e2e: ['test/e2e/**/*.test.ts', 'test/io/**/!(sd-notify|route-plan|resolv-conf|kill-switch-rules|tun-offload).test.ts', 'test/daemon/{dpd,nat,restart,start,tunnel}.test.ts'],
  /** No root: the fuzz targets' corpus replayed and a short seeded mutation run of each (fuzz/README.md); its own tier so the unit tier stays quick. */
  fuzz: ['test/fuzz.test.ts'],
  /** Root and strongSwan (charon, swanctl, pki): tsvpn against a real peer. */
  interop: ['test/interop/{eap-strongswan,gateway-strongswan,matrix,mobike-strongswan,nat-lab,pki,rekey-load,strongswan-lab,virtual-ip-strongswan}.test.ts'],
} as const;

export type Tier = keyof typeof TIERS;

// A local DNS server for the benchmarks (dns2, UDP on 127.0.0.1, port 0) that answers every
// query at once with NXDOMAIN, standing in for the caching resolver a mail server has next to it.
// Portcullis checks SPF/DKIM/DMARC on inbound mail; without this, each check would wait for the
// system resolver, and the benchmark would measure DNS timeouts instead of the server.

import dns2 from "dns2";

export async function startNxDns(): Promise<{ server: string; queries(): number; stop(): Promise<void> }> {
  const { Packet } = dns2;
  let n = 0;
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      n++;
      const response = Packet.createResponseFromRequest(request);
      (response.header as { rcode: number }).rcode = 3; // NXDOMAIN
      send(response);
    },
  });
  const addrs = await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  const port = (addrs as { udp: { port: number } }).udp.port;
  return { server: `127.0.0.1:${port}`, queries: () => n, stop: async () => void (await server.close()) };
}

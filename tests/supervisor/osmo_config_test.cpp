// The osmo-pcap-server configuration reader (pushcapd --osmo-config): real files as osmo-pcap
// saves them, every command of the server node, and an error naming FILE:LINE for each mistake.
#include <catch2/catch.hpp>

#include "supervisor/collector_outputs.hpp"
#include "supervisor/config_error.hpp"
#include "supervisor/osmo_config.hpp"

using namespace pushcap::supervisor;

namespace {

std::string errorOf(const std::string& text) {
    try {
        parseOsmoConfig(text, "osmo.cfg");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

// A server block holding `lines` and one plain client.
std::string server(const std::string& lines) {
    return "server\n base-path /srv\n client foo 10.0.0.1\n" + lines;
}

bool noticed(const PushConfig& cfg, const std::string& part) {
    for (const std::string& n : cfg.notices) {
        if (n.find(part) != std::string::npos)
            return true;
    }
    return false;
}

}  // namespace

TEST_CASE("osmo-pcap: the protocol note's example", "[unit][config][osmo]") {
    const PushConfig cfg = parseOsmoConfig(R"(server
 base-path /var/lib/osmo-pcap-server
 completed-path /var/lib/osmo-pcap-server/done
 server ip 0.0.0.0
 server port 54321
 max-snaplen 9000
 max-file-size 100000000
 rotate-localtime minute mod 20
 client foo 192.168.100.1
 client bar 192.168.200.2 store tls
 enable tls
 tls allow-auth x509
 tls capath /etc/osmocom/ca.pem
 tls server-cert /etc/osmocom/server.crt
 tls server-key /etc/osmocom/server.key
)",
                                           "osmo.cfg");
    CHECK(cfg.osmoFormat);
    CHECK(cfg.file == "osmo.cfg");
    const CollectorConfig& c = cfg.collector;
    REQUIRE(c.enabled);
    CHECK(c.listen == std::vector<std::string>{"0.0.0.0:54321"});
    CHECK(c.maxSnaplen == 9000);
    REQUIRE(c.clients.size() == 2);
    CHECK(c.clients[0] == CollectorClient{"foo", "192.168.100.1", true, false});
    CHECK(c.clients[1] == CollectorClient{"bar", "192.168.200.2", true, true});
    CHECK(c.tls.cert.path == "/etc/osmocom/server.crt");
    CHECK(c.tls.key.path == "/etc/osmocom/server.key");
    CHECK(c.tls.ca.path == "/etc/osmocom/ca.pem");
    CHECK(c.tls.ca.key == "osmo.cfg:13: tls capath");
    CHECK(c.tls.clientAuth == "x509");  // clients marked tls must present a verifying cert
    CHECK(c.output.basePath == "/var/lib/osmo-pcap-server");
    CHECK(c.output.completedPath == "/var/lib/osmo-pcap-server/done");
    CHECK(c.output.maxFileSize == 100000000);
    CHECK(c.output.rotateLocaltime == "minute mod 20");
    CHECK(c.output.fileMode == "0440");
    const std::vector<TargetConfig> targets = allTargets(cfg);
    REQUIRE(targets.size() == 2);
    CHECK(targets[0].desc == "foo");
    CHECK(targets[0].path == "/var/lib/osmo-pcap-server/");
    CHECK(targets[0].fileNameFlag == "--filename-osmo");
    CHECK(targets[1].sources == std::vector<std::string>{"bar"});
}

TEST_CASE("osmo-pcap: a file as 0.8.0 saves it, with every outer block", "[unit][config][osmo]") {
    const PushConfig cfg = parseOsmoConfig(R"(!
! OsmoPCAPServer (0.8.0) configuration saved from vty
!
log stderr
 logging filter all 1
 logging color 1
 logging print category-hex 1
 logging print category 0
 logging timestamp 0
 logging print file 1
 logging level pcap notice
 logging level tls notice
 logging level all notice
!
stats interval 5
!
line vty
 no login
 bind 127.0.0.1
!
server
 base-path /var/lib/osmo-pcap-server
 completed-path /var/lib/osmo-pcap-server/done
 file-permission-mask 0640
 file-write-queue-max-length 1024
 server ip 192.168.11.20
 server port 54322
 rotate-localtime hour mod 6
 max-file-size 262144000
 server max-snaplen 16000
 enable tls
 tls log-level 1
 tls allow-auth anonymous
 tls priority NORMAL:+ANON-ECDH:+ANON-DH
 tls server-cert /etc/osmocom/server.crt
 tls server-key /etc/osmocom/server.key
 tls dh generate
 client foo 192.168.100.1 store
 client bar 192.168.200.2 store tls
 client quiet 192.168.200.3 no-store
 client tquiet 192.168.200.4 no-store tls
)",
                                           "saved.cfg");
    const CollectorConfig& c = cfg.collector;
    CHECK(c.listen == std::vector<std::string>{"192.168.11.20:54322"});
    CHECK(c.maxSnaplen == 16000);
    CHECK(c.tls.priority == "NORMAL:+ANON-ECDH:+ANON-DH");
    CHECK(c.tls.clientAuth == "anonymous");  // `tls allow-auth anonymous`: no certificate asked
    REQUIRE(c.clients.size() == 4);
    CHECK(c.clients[3] == CollectorClient{"tquiet", "192.168.200.4", false, true});
    CHECK(c.output.fileMode == "0640");
    CHECK(c.output.rotateLocaltime == "hour mod 6");
    CHECK(c.output.maxFileSize == 262144000);
    CHECK(allTargets(cfg).size() == 2);  // foo and bar store
    CHECK(noticed(cfg, "saved.cfg:4: `log stderr`: osmo-pcap's logging settings are ignored"));
    CHECK(noticed(cfg, "saved.cfg:15: `stats interval 5` ignored"));
    CHECK(noticed(cfg, "saved.cfg:17: `line vty` block ignored"));
    CHECK(noticed(cfg, "saved.cfg:25: file-write-queue-max-length: accepted"));
    CHECK(noticed(cfg, "saved.cfg:32: tls log-level: ignored"));
    CHECK(noticed(cfg, "saved.cfg:37: `tls dh generate`: accepted, not needed"));
}

TEST_CASE("osmo-pcap: what a file leaves out takes osmo-pcap-server's defaults",
          "[unit][config][osmo]") {
    const PushConfig cfg = parseOsmoConfig("server\n client foo 10.0.0.1\n", "min.cfg");
    const CollectorConfig& c = cfg.collector;
    CHECK(c.listen == std::vector<std::string>{"0.0.0.0:54321"});
    CHECK(noticed(cfg, "no `server port`: listening on port 54321"));
    CHECK(noticed(cfg, "no `base-path`"));
    CHECK(c.output.basePath == ".");
    CHECK(c.output.rotateLocaltime == "day");
    CHECK(c.output.maxFileSize == 1073741824);
    CHECK(c.output.fileMode == "0440");
    CHECK(c.output.completedPath.empty());
    CHECK(c.output.delivery == DeliveryChoice::Default);  // lossless: the ring is backpressured
    CHECK(c.tls.cert.path.empty());
    CHECK(cfg.instance == "default");
}

TEST_CASE("osmo-pcap: `no` forms, repeated clients, unindented server commands",
          "[unit][config][osmo]") {
    const PushConfig cfg = parseOsmoConfig(R"(server
base-path /a
completed-path /done
no completed-path
rotate-localtime day
no rotate-localtime
max-file-size 5
no max-file-size
no zeromq-publisher
client foo 10.0.0.1
client bar 10.0.0.2
client gone 10.0.0.3
no client gone
client foo 10.0.0.9 no-store
enable tls
tls server-cert /c
tls server-key /k
tls capath /ca
no tls capath
tls allow-auth anonymous
no tls allow-auth anonymous
tls priority SECURE
no tls priority
tls dh pkcs3 /dh.pem
disable tls
exit
)",
                                           "no.cfg");
    const CollectorConfig& c = cfg.collector;
    CHECK(c.output.completedPath.empty());
    CHECK(c.output.rotateLocaltime.empty());
    CHECK(c.output.maxFileSize == 0);
    REQUIRE(c.clients.size() == 2);
    CHECK(c.clients[0] == CollectorClient{"foo", "10.0.0.9", false, false});  // changed in place
    CHECK(c.clients[1].name == "bar");
    CHECK(c.tls.cert.path.empty());  // `disable tls`: none of it is used
    CHECK(noticed(cfg, "tls settings ignored: no `enable tls`"));
}

TEST_CASE("osmo-pcap: TLS as osmo-pcap-server configures it", "[unit][config][osmo]") {
    const std::string keys = " tls server-cert /c\n tls server-key /k\n";
    PushConfig cfg = parseOsmoConfig(server(" enable tls\n tls allow-auth x509\n" + keys), "t.cfg");
    CHECK(cfg.collector.tls.clientAuth.empty());
    CHECK(noticed(cfg, "tls allow-auth x509 without tls capath"));
    cfg = parseOsmoConfig(server(" enable tls\n tls capath /ca\n tls crlfile /crl\n" + keys),
                          "t.cfg");
    CHECK(cfg.collector.tls.clientAuth == "x509");
    CHECK(cfg.collector.tls.crl.path == "/crl");
    cfg = parseOsmoConfig(
        server(" enable tls\n tls capath /my ca/ca.pem\n tls allow-auth x509\n tls allow-auth "
               "anonymous\n" +
               keys),
        "t.cfg");
    CHECK(cfg.collector.tls.ca.path == "/my ca/ca.pem");  // .PATH takes the rest of the line
    CHECK(cfg.collector.tls.clientAuth == "anonymous");   // both allowed: nobody is asked

    CHECK_THAT(errorOf("server\n client bar 10.0.0.2 tls\n"),
               Catch::Contains("osmo.cfg:2: client \"bar\" uses tls, but TLS is off: add `enable "
                               "tls`"));
    CHECK_THAT(errorOf("server\n enable tls\n client bar 10.0.0.2 store tls\n"),
               Catch::Contains("osmo.cfg:3: client \"bar\" uses tls: pushcap needs `tls "
                               "server-cert` and `tls server-key`"));
    CHECK_THAT(errorOf(server(" enable tls\n tls crlfile /crl\n" + keys)),
               Catch::Contains("osmo.cfg:5: tls crlfile: needs `tls capath`"));
    CHECK_THAT(errorOf(server(" enable tls\n tls server-cert /c\n")),
               Catch::Contains("osmo.cfg:5: `tls server-cert` and `tls server-key` go together"));
}

TEST_CASE("osmo-pcap: every mistake is an error naming FILE:LINE", "[unit][config][osmo]") {
    CHECK_THAT(
        errorOf(server(" base-pat /x\n")),
        Catch::Contains(
            "osmo.cfg:4: unknown server command \"base-pat\" (did you mean \"base-path\"?)"));
    CHECK_THAT(errorOf(server(" zeromq-publisher 127.0.0.1 6666\n")),
               Catch::Contains("osmo.cfg:4: zeromq-publisher: pushcap has no osmo-pcap ZeroMQ "
                               "publisher"));
    CHECK_THAT(errorOf(server(" zeromq-publisher * 6666\n")),
               Catch::Contains("protobuf on ZeroMQ, on the --status endpoint (docs/supervisor.md"));
    CHECK_THAT(
        errorOf(server(" server port 0\n")),
        Catch::Contains("osmo.cfg:4: expected `server port <1-65535>`, got `server port 0`"));
    CHECK_THAT(errorOf(server(" server port 65536\n")), Catch::Contains("osmo.cfg:4: expected"));
    CHECK_THAT(errorOf(server(" server ip 10.0.0.0/8\n")),
               Catch::Contains("osmo.cfg:4: server ip: \"10.0.0.0/8\" is not an IP address"));
    CHECK_THAT(errorOf(server(" server ipp 1.2.3.4\n")),
               Catch::Contains("unknown server setting \"ipp\" (did you mean \"ip\"?)"));
    CHECK_THAT(errorOf(server(" client bar 10.0.0\n")),
               Catch::Contains("osmo.cfg:4: client \"bar\": \"10.0.0\" is not an IPv4 or IPv6"));
    CHECK_THAT(errorOf(server(" client a/b 10.0.0.2\n")),
               Catch::Contains("osmo.cfg:4: client \"a/b\": the name must be 1-63 letters"));
    CHECK_THAT(
        errorOf(server(" client bar 10.0.0.2 tls store\n")),
        Catch::Contains("osmo.cfg:4: expected `client NAME A.B.C.D [(store|no-store)] [tls]`"));
    CHECK_THAT(errorOf(server(" client bar\n")), Catch::Contains("osmo.cfg:4: expected `client"));
    CHECK_THAT(errorOf(server(" rotate-localtime week\n")),
               Catch::Contains("osmo.cfg:4: expected `rotate-localtime "
                               "(second|minute|hour|day|month|year) [mod N]`"));
    CHECK_THAT(errorOf(server(" rotate-localtime minute mod 61\n")),
               Catch::Contains("osmo.cfg:4: rotate-localtime: mod 61 is too big for minute (at "
                               "most 60)"));
    CHECK_THAT(errorOf(server(" rotate-localtime hour mod 0\n")),
               Catch::Contains("osmo.cfg:4: expected `rotate-localtime"));
    CHECK_THAT(errorOf(server(" max-file-size 0\n")),
               Catch::Contains("osmo.cfg:4: expected `max-file-size BYTES"));
    CHECK_THAT(errorOf(server(" max-file-size 1e9\n")), Catch::Contains("osmo.cfg:4: expected"));
    CHECK_THAT(errorOf(server(" max-snaplen 262145\n")),
               Catch::Contains("osmo.cfg:4: expected `max-snaplen <1-262144>`"));
    CHECK_THAT(errorOf(server(" file-permission-mask 0999\n")),
               Catch::Contains("osmo.cfg:4: file-permission-mask: \"0999\" is not an octal file "
                               "mode"));
    CHECK_THAT(errorOf(server(" file-write-queue-max-length lots\n")),
               Catch::Contains("osmo.cfg:4: expected `file-write-queue-max-length N`"));
    CHECK_THAT(errorOf(server(" tls capth /ca\n")),
               Catch::Contains("osmo.cfg:4: unknown tls setting \"capth\" (did you mean "
                               "\"capath\"?)"));
    CHECK_THAT(errorOf(server(" tls allow-auth password\n")),
               Catch::Contains("osmo.cfg:4: expected `tls allow-auth (anonymous|x509)`"));
    CHECK_THAT(errorOf(server(" tls log-level 256\n")),
               Catch::Contains("osmo.cfg:4: expected `tls log-level <0-255>`"));
    CHECK_THAT(errorOf(server(" tls dh\n")), Catch::Contains("osmo.cfg:4: expected `tls dh"));
    CHECK_THAT(errorOf(server(" enable ssl\n")),
               Catch::Contains("osmo.cfg:4: expected `enable tls`"));
    CHECK_THAT(errorOf(server(" no max-file-sise\n")),
               Catch::Contains("osmo.cfg:4: unknown `no` command \"max-file-sise\" (did you mean "
                               "\"max-file-size\"?)"));
    CHECK_THAT(errorOf(server(" no client\n")),
               Catch::Contains("osmo.cfg:4: expected `no client NAME`"));
    CHECK_THAT(errorOf(server(" base-path\n")),
               Catch::Contains("osmo.cfg:4: expected `base-path PATH`"));
    CHECK_THAT(
        errorOf("servre\n"),
        Catch::Contains("osmo.cfg:1: unknown command \"servre\" (did you mean \"server\"?)"));
    CHECK_THAT(errorOf(" base-path /x\nserver\n client a 1.2.3.4\n"),
               Catch::Contains("osmo.cfg:1: `base-path /x` is outside a block"));
    CHECK_THAT(errorOf("! nothing\nline vty\n no login\n"),
               Catch::Contains("osmo.cfg: no `server` block: nothing to run"));
    CHECK_THAT(errorOf("server\n base-path /x\n"),
               Catch::Contains("osmo.cfg: no `client NAME A.B.C.D` line"));
    // Every problem at once, counted.
    const std::string all = errorOf(server(" base-pat /x\n max-snaplen 0\n server port x\n"));
    CHECK_THAT(all, Catch::StartsWith("osmo.cfg: 3 error(s):"));
    CHECK_THAT(all, Catch::Contains("osmo.cfg:5:"));
    CHECK_THAT(all, Catch::Contains("osmo.cfg:6:"));
}

TEST_CASE("osmo-pcap: a file that cannot be read says so", "[unit][config][osmo]") {
    CHECK_THROWS_WITH(loadOsmoConfig("/nonexistent/osmo.cfg"),
                      Catch::Contains("/nonexistent/osmo.cfg: cannot read the osmo-pcap-server "
                                      "configuration"));
}

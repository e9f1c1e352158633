-- A pushcap configuration for a live capture box: FMADIO's push_realtime.lua keys, plus
-- pushcap's own top-level settings (all optional; defaults shown in the README).
local Config = {}

Config.Instance       = "edge1"                  -- names shared memory and logs
Config.Interface      = { "eth1" }               -- or give -i on the command line
Config.RingSize       = 512 * 2^20               -- bytes, a power of two
Config.StatusEndpoint = "tcp://127.0.0.1:5577"   -- pushcap-status connects here
Config.LogDir         = "/var/log/pushcap"

Config.Target = {}

-- Everything, one file a minute, named <start>-<end>.pcap.
table.insert(Config.Target, {
    Desc      = "pcap-all",
    Mode      = "File",
    Path      = "/var/lib/pushcap/all/",
    Split     = "--split-time 60e9",
    FileName  = "--filename-epoch-sec-startend",
})

-- Only TCP of 192.168.1.0/24, files of at most 1 GB, moved to done/ when complete.
table.insert(Config.Target, {
    Desc          = "pcap-tcp",
    Mode          = "File",
    Path          = "/var/lib/pushcap/tcp/tcp",
    Split         = "--split-byte 1e9",
    FileName      = "--filename-tstr-HHMMSS",
    FilterBPF     = "net 192.168.1.0/24 and tcp",
    CompletedPath = "/var/lib/pushcap/tcp/done",
})

return Config

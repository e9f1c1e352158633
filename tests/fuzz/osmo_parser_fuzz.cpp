// libFuzzer target for the osmo-pcap stream parser: the bytes a remote client may send. The
// input is fed in two reads split at a point taken from the data, like a socket would, and every
// packet handed out must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "capture/osmo_stream_parser.hpp"

namespace {

struct BoundsCheckingSink : pushcap::capture::OsmoPacketSink {
    const std::byte* begin = nullptr;
    const std::byte* end = nullptr;
    bool packet(const pushcap::capture::OsmoPacket& p) override {
        if (p.data < begin || p.data + p.caplen > end || p.caplen > p.snaplen) std::abort();
        return true;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto* bytes = reinterpret_cast<const std::byte*>(data);
    const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
    pushcap::capture::OsmoStreamParser parser(size != 0 && data[0] % 2 ? 9000 : 262144);
    BoundsCheckingSink sink;
    // First read: a prefix; second read: what was left plus the rest, as a collector does.
    std::vector<std::byte> buffer(bytes, bytes + split);
    sink.begin = buffer.data();
    sink.end = buffer.data() + buffer.size();
    auto r = parser.parse(buffer.data(), buffer.size(), sink);
    if (r.error != pushcap::capture::OsmoError::None || r.consumed > buffer.size()) return 0;
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    buffer.insert(buffer.end(), bytes + split, bytes + size);
    sink.begin = buffer.data();
    sink.end = buffer.data() + buffer.size();
    r = parser.parse(buffer.data(), buffer.size(), sink);
    if (r.consumed > buffer.size()) std::abort();
    return 0;
}

// Helpers for the pushcap-web tests: run pushcap-web and pushcapd, talk HTTP (cpp-httplib's
// client), parse JSON (protobuf's JSON parser into google.protobuf.Struct), find free ports.
#pragma once

#include <google/protobuf/struct.pb.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../workers/worker_test_support.hpp"
#include "tools/loopback_port.hpp"

namespace pushcap::web::test {

using tools::freeLoopbackPort;
using workers::test::Child;

// Full path of a program on PATH or in /usr/bin, or "" when it is not installed.
std::string findProgram(const std::string& name);

struct HttpResult {
    int status = 0;  // 0: no connection
    std::string body;
};
HttpResult httpGet(int port, const std::string& path);
HttpResult httpPost(int port, const std::string& path, const std::string& json);
HttpResult httpDelete(int port, const std::string& path);
std::string urlEncode(const std::string& s);

// Parses a JSON object; nullopt if it is not one.
std::optional<google::protobuf::Struct> parseJson(const std::string& text);
// The value at a path of keys and list indexes ("data", "result", "0", "value", "1").
const google::protobuf::Value* at(const google::protobuf::Struct& root,
                                  const std::vector<std::string>& path);

// pushcap-web on a free port of 127.0.0.1, subscribed to `endpoint`; port() is known once it
// printed its listening line.
class WebProcess {
  public:
    WebProcess(const std::string& dir, const std::string& endpoint);
    int port() const { return m_port; }
    Child& child() { return *m_child; }

  private:
    std::unique_ptr<Child> m_child;
    int m_port = 0;
};

// A directory with pushcapd and its children, where pushcap-capture gets `captureArgs` added
// (e.g. --realtime=5 to pace an offline push) and pushcap-worker crashes for target `crasher`
// (if not empty). pushcapd runs its children from its own directory.
std::string wrapperBinDir(const std::string& dir, const std::string& captureArgs,
                          const std::string& crasher);

// Where tests leave files for people to look at (screenshots): <build>/tests/web-artifacts.
std::string artifactDir();

}  // namespace pushcap::web::test

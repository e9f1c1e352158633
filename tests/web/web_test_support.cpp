#include "web_test_support.hpp"

#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace pushcap::web::test {

using namespace workers::test;
using namespace std::chrono_literals;

std::string findProgram(const std::string& name) {
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/bin:/usr/sbin:/bin";
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find(':', start);
        if (end == std::string::npos)
            end = path.size();
        const std::string candidate = path.substr(start, end - start) + "/" + name;
        if (end > start && ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    return "";
}

namespace {

HttpResult toResult(const httplib::Result& r) {
    if (!r)
        return {};
    return {r->status, r->body};
}

httplib::Client client(int port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(5);
    c.set_read_timeout(60);  // chromedriver's new session starts a browser
    return c;
}

}  // namespace

HttpResult httpGet(int port, const std::string& path) {
    auto c = client(port);
    return toResult(c.Get(path));
}

HttpResult httpPost(int port, const std::string& path, const std::string& json) {
    auto c = client(port);
    return toResult(c.Post(path, json, "application/json"));
}

HttpResult httpDelete(int port, const std::string& path) {
    auto c = client(port);
    return toResult(c.Delete(path));
}

std::string urlEncode(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

std::optional<google::protobuf::Struct> parseJson(const std::string& text) {
    google::protobuf::Struct s;
    if (!google::protobuf::util::JsonStringToMessage(text, &s).ok())
        return std::nullopt;
    return s;
}

const google::protobuf::Value* at(const google::protobuf::Struct& root,
                                  const std::vector<std::string>& path) {
    const google::protobuf::Struct* object = &root;
    const google::protobuf::Value* value = nullptr;
    for (const std::string& key : path) {
        if (object != nullptr) {
            auto it = object->fields().find(key);
            if (it == object->fields().end())
                return nullptr;
            value = &it->second;
        } else if (value != nullptr && value->has_list_value()) {
            const std::size_t i = std::strtoul(key.c_str(), nullptr, 10);
            if (i >= std::size_t(value->list_value().values_size()))
                return nullptr;
            value = &value->list_value().values(static_cast<int>(i));
        } else {
            return nullptr;
        }
        object = value->has_struct_value() ? &value->struct_value() : nullptr;
    }
    return value;
}

WebProcess::WebProcess(const std::string& dir, const std::string& endpoint) {
    const std::string log = dir + "/" + uniqueName("web") + ".log";
    m_child =
        std::make_unique<Child>(std::vector<std::string>{binDir() + "/pushcap-web", "--endpoint",
                                                         endpoint, "--listen", "127.0.0.1:0"},
                                log);
    const std::regex line(R"(listening on http://127\.0\.0\.1:(\d+)/)");
    waitFor(
        [&] {
            std::smatch m;
            const std::string text = readFile(log);
            if (std::regex_search(text, m, line))
                m_port = std::stoi(m[1]);
            return m_port != 0 || !m_child->running();
        },
        30s);
    if (m_port == 0)
        throw std::runtime_error("pushcap-web did not start: " + readFile(log));
}

std::string wrapperBinDir(const std::string& dir, const std::string& captureArgs,
                          const std::string& crasher) {
    const std::string bin = dir + "/bin";
    if (runShell("mkdir -p " + quote(bin) + " && cp " + quote(binDir() + "/pushcapd") + " " +
                 quote(bin)) != 0) {
        throw std::runtime_error("cannot prepare " + bin);
    }
    std::ofstream(bin + "/pushcap-capture")
        << "#!/bin/sh\nexec " << quote(binDir() + "/pushcap-capture") << " " << captureArgs
        << " \"$@\"\n";
    std::ofstream worker(bin + "/pushcap-worker");
    worker << "#!/bin/sh\n";
    if (!crasher.empty())
        worker << "case \"$*\" in *'--name " << crasher << " '*) kill -SEGV $$;; esac\n";
    worker << "exec " << quote(binDir() + "/pushcap-worker") << " \"$@\"\n";
    worker.close();
    ::chmod((bin + "/pushcap-capture").c_str(), 0755);
    ::chmod((bin + "/pushcap-worker").c_str(), 0755);
    return bin;
}

std::string artifactDir() {
    const std::string d = testBinDir() + "/web-artifacts";
    ::mkdir(d.c_str(), 0755);
    return d;
}

}  // namespace pushcap::web::test

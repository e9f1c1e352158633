// The dashboard's static files (tools/web/), compiled into pushcap-web by cmake/EmbedFiles.cmake
// so the binary serves them without reading anything from disk.
#pragma once

#include <span>
#include <string_view>

namespace pushcap::tools {

struct WebAsset {
    std::string_view path;  // URL path, e.g. "/app.js"
    std::string_view contentType;
    std::string_view body;
};

// Every embedded file; the table lives for the whole program.
std::span<const WebAsset> webAssets();

}  // namespace pushcap::tools

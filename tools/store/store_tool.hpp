#pragma once

// `rmqttd store <inspect|export|import|check|compact> [options]`: offline tools for the session
// store (docs/store-format.md). main.cpp hands over argv when its first argument is "store".
namespace rmqtt::store_tool {

// argv[0] is "store". Returns the process exit status (store_source.hpp lists them).
int store_main(int argc, char** argv);

}  // namespace rmqtt::store_tool

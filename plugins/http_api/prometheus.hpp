#pragma once

#include <optional>
#include <string>

#include "rmqtt/broker/broker_api.hpp"

// The broker's metrics in the Prometheus text exposition format (version 0.0.4): a # HELP and
// a # TYPE line before each metric family, samples named rmqtt_*, with the label node="<id>"
// unless `node_label` is false (the /sum form).
namespace rmqtt::plugins::http_api {

std::string render_prometheus(broker::broker_api& broker, bool node_label);

}  // namespace rmqtt::plugins::http_api

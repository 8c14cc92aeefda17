#pragma once

#include <memory>

#include "rmqtt/broker/plugin.hpp"

// rmqtt-http-api: RMQTT's HTTP management API under /api/v1 (routes in api_routes.hpp), the
// Prometheus exposition (prometheus.hpp) and the dashboard's static files at / and /dashboard/
// (dashboard.hpp), on a cpp-httplib server whose threads the plugin owns: bound in start() (a
// port in use stops the broker's start), served by a thread of its own plus http_workers request
// threads, stopped and joined in stop(). Requests reach the broker only through broker_api.
namespace rmqtt::plugins::http_api {

std::unique_ptr<broker::plugin> make_plugin();

}  // namespace rmqtt::plugins::http_api

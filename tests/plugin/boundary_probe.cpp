// Must NOT compile with only the plugin API's include paths (ctest plugin_api_boundary): a plugin
// cannot reach the core's headers.
#include "session/session.hpp"

int boundary_probe_unused = 0;

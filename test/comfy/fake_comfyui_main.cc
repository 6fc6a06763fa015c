// fake_comfyui: runs the fake ComfyUI (test/comfy/fake_comfyui.h) until SIGINT/SIGTERM.
//   fake_comfyui [--port N] [--host H] [--ddcolor-ms N] [--node-ms N] [--captures DIR]
// Prints "listening on HOST:PORT" once bound (port 0 picks a free one).

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "test/comfy/fake_comfyui.h"

int main(int argc, char** argv) {
  tokenaudit::comfy::testing::FakeComfyUiOptions o;
  o.captures_dir = TOKENAUDIT_COMFY_CAPTURES;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--port") o.port = static_cast<uint16_t>(std::atoi(value.c_str()));
    else if (flag == "--host") o.host = value;
    else if (flag == "--ddcolor-ms") o.ddcolor_ms = std::atoi(value.c_str());
    else if (flag == "--node-ms") o.node_ms = std::atoi(value.c_str());
    else if (flag == "--captures") o.captures_dir = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // the server threads inherit the mask
  auto server = tokenaudit::comfy::testing::FakeComfyUi::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "fake_comfyui: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("listening on %s:%u\n", o.host.c_str(), (*server)->port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  (*server)->Stop();
  return 0;
}

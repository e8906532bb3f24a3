//===- AtomicFile.cpp - Writing a file all or nothing ---------------------===//

#include "edgellm/hw/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

bool edgellm::hw::writeFileAtomically(const std::string &path,
                                      const std::function<bool(std::ostream &)> &fill,
                                      std::string &error) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    if (!o) {
      error = tmp + ": cannot write: " + std::strerror(errno);
      return false;
    }
    if (!fill(o)) {
      o.close();
      std::remove(tmp.c_str());
      return false;
    }
    if (!o.flush()) {
      error = tmp + ": cannot write: " + std::strerror(errno);
      o.close();
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": cannot rename " + tmp + " to it";
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

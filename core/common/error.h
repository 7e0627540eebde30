// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <stdexcept>
#include <string>

namespace psa {

/// Base of every error core throws. Messages name what failed, the object (path, key, field),
/// expected vs got, and a hint where one exists (STYLE.md 6).
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
/// A file could not be read or written, or its bytes are malformed.
struct IoError : Error {
    using Error::Error;
};
/// Weights do not fit the model they are loaded into.
struct ModelLoadError : Error {
    using Error::Error;
};
/// A configuration file or value is missing or invalid.
struct ConfigError : Error {
    using Error::Error;
};
/// A request (generation, training, CLI options) asks for something impossible.
struct InvalidRequest : Error {
    using Error::Error;
};

/// "path: message" — the one place the file-name prefix format lives.
std::string path_message(const std::string& path, const std::string& message);

} // namespace psa

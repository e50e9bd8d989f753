# apr_install_package(<Pkg> <target> <namespace>): installs a library target, its public headers
# and an exported <Pkg>Config.cmake + version file so downstream projects can find_package(<Pkg>).
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

function(apr_install_package pkg target ns)
  install(TARGETS ${target} EXPORT ${pkg}Targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT ${pkg}Targets NAMESPACE ${ns}::
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/${pkg})
  configure_package_config_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/${pkg}Config.cmake.in
    ${CMAKE_CURRENT_BINARY_DIR}/${pkg}Config.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/${pkg})
  write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/${pkg}ConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${pkg}Config.cmake
                ${CMAKE_CURRENT_BINARY_DIR}/${pkg}ConfigVersion.cmake
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/${pkg})
endfunction()

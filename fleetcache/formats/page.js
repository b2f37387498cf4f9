/* fleetcache page script: a placeholder; the browser engineer writes the real one (issue 20). */

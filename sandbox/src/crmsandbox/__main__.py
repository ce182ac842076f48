from crmsandbox.cli import main

raise SystemExit(main())

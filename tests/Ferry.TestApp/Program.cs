using Ferry.TestApp;

return await new TestFunctions().App.RunAsync(args);
